package tracing

import (
	"fmt"
	"hash/maphash"
	"strconv"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersvc/ordersvc/config"
)

// newSampler returns the sampler named by OTEL_TRACES_SAMPLER with its
// argument; "" is the default sampler with the default argument.
func newSampler(name string, arg float64) (sdktrace.Sampler, error) {
	if name == "" {
		name, arg = config.DefaultTracesSampler, config.DefaultTracesSamplerArg
	}
	if !(arg >= 0 && arg <= 1) {
		return nil, fmt.Errorf("sampler argument %v is not a ratio from 0 to 1", arg)
	}
	switch name {
	case config.SamplerAlwaysOn:
		return sdktrace.AlwaysSample(), nil
	case config.SamplerAlwaysOff:
		return sdktrace.NeverSample(), nil
	case config.SamplerTraceIDRatio:
		return newRatioSampler(arg), nil
	case config.SamplerParentBasedAlwaysOn:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case config.SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case config.SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(arg)), nil
	}
	return nil, fmt.Errorf("unknown sampler %q", name)
}

// ratioSampler samples a ratio of traces in a way callers cannot steer.
//
// The SDK's TraceIDRatioBased is not enough on its own: it compares the
// low 8 bytes of the trace id with the ratio, and the trace id of a
// continued trace is the caller's choice, so a client sending ids whose
// low bytes are zero would be sampled at any ratio above 0. ParentBased
// would obey the caller's sampled flag. So:
//
//   - a span with a local parent follows it (the decision was this
//     service's own, made at the root), so a trace is kept or dropped
//     whole;
//   - any other span (a root, or a remote parent from a caller) is sampled
//     when a keyed hash of its trace id, with a seed made at random for
//     this process, falls under the ratio: the caller can neither predict
//     nor force the outcome, and every span of one trace id gets the same
//     decision in this process.
//
// The trace id itself is still continued: sampling only decides recording.
type ratioSampler struct {
	bound uint64 // sample when hash>>1 < bound, as TraceIDRatioBased
	seed  maphash.Seed
	desc  string
}

func newRatioSampler(ratio float64) *ratioSampler {
	return &ratioSampler{
		bound: uint64(ratio * (1 << 63)),
		seed:  maphash.MakeSeed(),
		desc:  "ClientProofTraceIDRatio{" + strconv.FormatFloat(ratio, 'g', -1, 64) + "}",
	}
}

// ShouldSample implements sdktrace.Sampler.
func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	psc := trace.SpanContextFromContext(p.ParentContext)
	var sampled bool
	if psc.IsValid() && !psc.IsRemote() {
		sampled = psc.IsSampled()
	} else {
		sampled = maphash.Bytes(s.seed, p.TraceID[:])>>1 < s.bound
	}
	res := sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: psc.TraceState()}
	if sampled {
		res.Decision = sdktrace.RecordAndSample
	}
	return res
}

// Description implements sdktrace.Sampler.
func (s *ratioSampler) Description() string { return s.desc }
