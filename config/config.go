// Package config reads the service's configuration from the environment
// into one Config value and validates it. Secrets may be given inline
// (NAME) or as a path (NAME_FILE), never both.
//
// Load is pure: apart from reading NAME_FILE secrets it touches nothing,
// and it runs every check before returning, so an invalid configuration is
// refused before the server creates or opens anything.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Config is the whole configuration of the server. Each field is named
// after its variable (SPEC §2); Load fills in the defaults.
type Config struct {
	// HTTPAddr is HTTP_ADDR, the listen address.
	HTTPAddr string
	// DatabaseURL is DATABASE_URL as given (kept for compatibility; it may
	// hold a postgres password).
	DatabaseURL string
	// Database is DATABASE_URL parsed: the driver and the SQLite path or
	// the postgres URL.
	Database Database
	// SentryDSN is SENTRY_DSN (or SENTRY_DSN_FILE's content); "" disables
	// error tracking. A secret.
	SentryDSN string
	// SentryEnvironment is SENTRY_ENVIRONMENT.
	SentryEnvironment string
	// SentryRelease is SENTRY_RELEASE, by default the build's version.
	SentryRelease string
	// SentryTracesSampleRate is SENTRY_TRACES_SAMPLE_RATE, from 0 to 1.
	SentryTracesSampleRate float64
	// AdminToken is ADMIN_TOKEN (or ADMIN_TOKEN_FILE's content); ""
	// disables the admin API. A secret.
	AdminToken string
	// AlertWebhookToken is ALERT_WEBHOOK_TOKEN (or its _FILE); ""
	// disables the Alertmanager webhook. A secret.
	AlertWebhookToken string
	// LogLevel is LOG_LEVEL.
	LogLevel slog.Level
	// LogFormat is LOG_FORMAT, lower-cased: "json" or "text".
	LogFormat string
	// ShutdownDelay is how long the server keeps serving after SIGTERM
	// while /readyz answers 503 (SHUTDOWN_DELAY; 0 = none).
	ShutdownDelay time.Duration
	// ShutdownTimeout is the drain time after the delay (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// HeartbeatTimeout is the dead man's switch on the Watchdog heartbeat
	// (HEARTBEAT_TIMEOUT; 0 = off).
	HeartbeatTimeout time.Duration
	// AlertRetention is how long resolved alert records are kept
	// (ALERT_RETENTION).
	AlertRetention time.Duration
	// OTLPEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT, the OTLP/HTTP base URL
	// ("" = unset).
	OTLPEndpoint string
	// OTLPTracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the full
	// traces URL ("" = unset). Use OTLPTracesURL for the resolved one.
	OTLPTracesEndpoint string
	// OTelServiceName is OTEL_SERVICE_NAME, the service.name resource.
	OTelServiceName string
	// TracesSampler is OTEL_TRACES_SAMPLER, lower-cased: one of the
	// Sampler* names.
	TracesSampler string
	// TracesSamplerArg is OTEL_TRACES_SAMPLER_ARG, from 0 to 1: the ratio
	// of the traceidratio samplers (ignored by the others).
	TracesSamplerArg float64
	// Currency is CURRENCY, an ISO 4217 code.
	Currency string
}

// Error names the variable whose value was refused. Its message is one
// line and never contains a secret.
type Error struct {
	// Var is the environment variable, e.g. ADMIN_TOKEN or ADMIN_TOKEN_FILE.
	Var string
	// Reason says what is wrong, without the secret.
	Reason string
	// Err is the underlying error, if any (e.g. from reading a file).
	Err error
}

// Error returns "VAR: reason".
func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Load reads the configuration through lookup (os.LookupEnv when nil) and
// readFile (ReadSecretFile when nil). defaultRelease is the build's
// version. Every variable is checked; the error returned is the first
// problem found, an *Error naming its variable.
func Load(lookup func(string) (string, bool), readFile func(string) ([]byte, error), defaultRelease string) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if readFile == nil {
		readFile = ReadSecretFile
	}
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTPAddr:          get("HTTP_ADDR", ":8080"),
		DatabaseURL:       get("DATABASE_URL", "sqlite://data/ordersvc.db"),
		SentryEnvironment: get("SENTRY_ENVIRONMENT", "development"),
		SentryRelease:     get("SENTRY_RELEASE", defaultRelease),
		LogFormat:         strings.ToLower(get("LOG_FORMAT", "json")),
		Currency:          get("CURRENCY", "USD"),
		OTelServiceName:   get("OTEL_SERVICE_NAME", DefaultOTelServiceName),
		TracesSampler:     strings.ToLower(get("OTEL_TRACES_SAMPLER", DefaultTracesSampler)),
	}
	var errs []error
	for _, s := range []struct {
		name  string
		dst   *string
		check func(string) string
	}{
		{"SENTRY_DSN", &c.SentryDSN, checkSentryDSN},
		{"ADMIN_TOKEN", &c.AdminToken, checkToken},
		{"ALERT_WEBHOOK_TOKEN", &c.AlertWebhookToken, checkToken},
	} {
		v, from, err := secret(lookup, readFile, s.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v != "" && s.check != nil {
			if reason := s.check(v); reason != "" {
				errs = append(errs, &Error{Var: from, Reason: reason})
				continue
			}
		}
		*s.dst = v
	}
	if err := checkAddr(c.HTTPAddr); err != nil {
		errs = append(errs, &Error{Var: "HTTP_ADDR", Reason: err.Error()})
	}
	if db, reason := parseDatabase(c.DatabaseURL); reason != "" {
		errs = append(errs, &Error{Var: "DATABASE_URL", Reason: reason})
	} else {
		c.Database = db
	}
	if v := get("SENTRY_TRACES_SAMPLE_RATE", ""); v != "" {
		var reason string
		if c.SentryTracesSampleRate, reason = parseRate(v); reason != "" {
			errs = append(errs, &Error{Var: "SENTRY_TRACES_SAMPLE_RATE", Reason: reason})
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, &Error{Var: "LOG_LEVEL", Reason: fmt.Sprintf("%q is not one of debug, info, warn, error", truncate(get("LOG_LEVEL", "")))})
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, &Error{Var: "LOG_FORMAT", Reason: fmt.Sprintf("%q is not json or text", truncate(c.LogFormat))})
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		rule durationRule
	}{
		{"SHUTDOWN_DELAY", &c.ShutdownDelay, durationRule{def: DefaultShutdownDelay, max: MaxShutdownDelay}},
		{"SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, durationRule{def: DefaultShutdownTimeout, min: time.Nanosecond, max: MaxShutdownTimeout}},
		{"HEARTBEAT_TIMEOUT", &c.HeartbeatTimeout, durationRule{def: DefaultHeartbeatTimeout, min: MinHeartbeatTimeout, max: MaxHeartbeatTimeout, zeroOff: true}},
		{"ALERT_RETENTION", &c.AlertRetention, durationRule{def: DefaultAlertRetention, min: time.Nanosecond, max: MaxAlertRetention}},
	} {
		v, reason := d.rule.parse(get(d.name, ""))
		if reason != "" {
			errs = append(errs, &Error{Var: d.name, Reason: reason})
		}
		*d.dst = v
	}
	for _, e := range []struct {
		name string
		dst  *string
	}{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", &c.OTLPEndpoint},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &c.OTLPTracesEndpoint},
	} {
		if v := get(e.name, ""); v != "" {
			if reason := checkEndpoint(v); reason != "" {
				errs = append(errs, &Error{Var: e.name, Reason: reason})
			}
			*e.dst = v
		}
	}
	if reason := checkServiceName(c.OTelServiceName); reason != "" {
		errs = append(errs, &Error{Var: "OTEL_SERVICE_NAME", Reason: reason})
	}
	if !isSampler(c.TracesSampler) {
		errs = append(errs, &Error{Var: "OTEL_TRACES_SAMPLER", Reason: fmt.Sprintf("%q is not one of %s", truncate(c.TracesSampler), samplerNames)})
	}
	c.TracesSamplerArg = DefaultTracesSamplerArg
	if v := get("OTEL_TRACES_SAMPLER_ARG", ""); v != "" {
		var reason string
		if c.TracesSamplerArg, reason = parseRate(v); reason != "" {
			errs = append(errs, &Error{Var: "OTEL_TRACES_SAMPLER_ARG", Reason: reason})
		}
	}
	if !isCurrencyCode(c.Currency) {
		errs = append(errs, &Error{Var: "CURRENCY", Reason: fmt.Sprintf("%q is not a three-letter ISO 4217 code", truncate(c.Currency))})
	}
	if len(errs) > 0 {
		return Config{}, errs[0]
	}
	return c, nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", truncate(addr))
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q has an invalid host", truncate(addr))
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has an invalid port", truncate(addr))
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// maxQuoted bounds how much of a refused value a message quotes.
const maxQuoted = 40

// truncate shortens a refused (non-secret) value for a message, without
// cutting a UTF-8 sequence; callers quote it with %q, which keeps the
// message on one line whatever the value holds.
func truncate(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	i := maxQuoted
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Secrets returns every secret value c holds (the tokens, the Sentry DSN
// and its keys, postgres passwords), non-empty, for scrubbers that must
// keep them out of logs and error-tracking events.
func (c Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	add(c.AdminToken)
	add(c.AlertWebhookToken)
	add(c.SentryDSN)
	if u, err := url.Parse(c.SentryDSN); err == nil && c.SentryDSN != "" {
		add(u.User.Username())
		p, _ := u.User.Password()
		add(p)
	}
	for _, p := range c.Database.passwords() {
		add(p)
	}
	return out
}
