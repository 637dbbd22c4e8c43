package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The standard OTel sampler names OTEL_TRACES_SAMPLER accepts.
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Defaults and bounds of the OTel variables.
const (
	// DefaultOTelServiceName is OTEL_SERVICE_NAME's default.
	DefaultOTelServiceName = "ordersvc"
	// MaxOTelServiceNameBytes bounds OTEL_SERVICE_NAME.
	MaxOTelServiceNameBytes = 255
	// DefaultTracesSampler is OTEL_TRACES_SAMPLER's default (SPEC §2).
	DefaultTracesSampler = SamplerTraceIDRatio
	// DefaultTracesSamplerArg is OTEL_TRACES_SAMPLER_ARG's default.
	DefaultTracesSamplerArg = 1.0
)

// samplerNames lists the accepted samplers, for the message.
const samplerNames = SamplerAlwaysOn + ", " + SamplerAlwaysOff + ", " + SamplerTraceIDRatio + ", " +
	SamplerParentBasedAlwaysOn + ", " + SamplerParentBasedAlwaysOff + ", " + SamplerParentBasedTraceIDRatio

// isSampler reports whether s is one of the accepted sampler names.
func isSampler(s string) bool {
	switch s {
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio,
		SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio:
		return true
	}
	return false
}

// TracingEnabled reports whether an OTLP endpoint is configured.
func (c Config) TracingEnabled() bool { return c.OTLPTracesURL() != "" }

// OTLPTracesURL is where spans are sent, as the OTel specification
// resolves it: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else
// OTEL_EXPORTER_OTLP_ENDPOINT with v1/traces appended, else "" (off).
func (c Config) OTLPTracesURL() string {
	if c.OTLPTracesEndpoint != "" {
		return c.OTLPTracesEndpoint
	}
	if c.OTLPEndpoint != "" {
		return strings.TrimSuffix(c.OTLPEndpoint, "/") + "/v1/traces"
	}
	return ""
}

// checkEndpoint returns why v is not an OTLP/HTTP endpoint, or "". The
// reason does not quote v: it may hold credentials.
func checkEndpoint(v string) string {
	const want = "must be an http:// or https:// URL with a host"
	if strings.ContainsFunc(v, isSpaceOrControl) || !utf8.ValidString(v) {
		return want + " (it contains whitespace or control characters)"
	}
	u, err := url.Parse(v) // its error would quote v: not used
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return want
	}
	if p := u.Port(); p != "" && !isPort(p) {
		return want + " (invalid port)"
	}
	return ""
}

// checkServiceName returns why v is not a usable service.name, or "".
func checkServiceName(v string) string {
	switch {
	case !utf8.ValidString(v) || strings.ContainsFunc(v, isControl):
		return fmt.Sprintf("%q contains control characters or invalid UTF-8", truncate(v))
	case len(v) > MaxOTelServiceNameBytes:
		return fmt.Sprintf("%q is longer than %d bytes", truncate(v), MaxOTelServiceNameBytes)
	}
	return ""
}

// parseRate parses a probability from 0 to 1; NaN and infinities are
// refused.
func parseRate(v string) (float64, string) {
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || !(r >= 0 && r <= 1) {
		return 0, fmt.Sprintf("%q is not a number from 0 to 1", truncate(v))
	}
	return r, ""
}
