// Package tracing is the service's OpenTelemetry tracing (SPEC §11): one
// injected Provider that is either off (no OTLP endpoint configured) or an
// SDK tracer provider exporting over OTLP/HTTP through a bounded batch
// processor, and the pieces that use it: a gin server-span middleware, child
// spans for store queries and internal work, the trace id for exemplars, a
// slog.Handler that stamps trace_id, span_id and request_id on log records,
// and an http.RoundTripper that sends the W3C trace context on outgoing
// calls.
//
// Off costs nothing measurable: every hot-path entry point checks one field
// and allocates nothing. A nil *Provider is a valid, disabled provider, so
// callers need no special case.
//
// The package sets no OpenTelemetry global (tracer provider, propagator,
// meter provider): the Provider and its TextMapPropagator are passed to
// whatever needs them. Client-supplied sampling cannot force recording: see
// the sampler documentation on New.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ordersvc/ordersvc/config"
)

// Batch processor defaults. The queue is bounded: when the exporter cannot
// keep up, new spans are dropped (and counted), never buffered without
// limit or waited for on the request path.
const (
	// DefaultMaxQueueSize bounds the spans ended but not yet exported.
	DefaultMaxQueueSize = 2048
	// DefaultMaxExportBatchSize is the most spans sent in one OTLP request.
	DefaultMaxExportBatchSize = 512
	// DefaultBatchTimeout is how long a partial batch waits before export.
	DefaultBatchTimeout = 2 * time.Second
	// DefaultExportTimeout bounds one export, retries included.
	DefaultExportTimeout = 10 * time.Second
)

// InstrumentationName is the instrumentation scope of the service's spans.
const InstrumentationName = "github.com/ordersvc/ordersvc/tracing"

// Options are the parts of a Provider that do not come from the
// configuration. The zero value is valid.
type Options struct {
	// Registerer receives otel_spans_dropped_total when tracing is on; nil
	// registers nothing (the counter still counts).
	Registerer prometheus.Registerer
	// Propagator reads and writes the trace context of requests; nil means
	// W3C Trace Context (traceparent, tracestate).
	Propagator propagation.TextMapPropagator
	// ServiceVersion is the service.version resource attribute; "" omits it.
	ServiceVersion string
	// Exporter, when set, replaces the OTLP/HTTP exporter and turns
	// tracing on even without an endpoint: for tests (tracetest's
	// InMemoryExporter) and benchmarks.
	Exporter sdktrace.SpanExporter
	// MaxQueueSize bounds the spans waiting for export (queued, batched or
	// being sent); 0 means DefaultMaxQueueSize.
	MaxQueueSize int
	// MaxExportBatchSize is the largest batch; 0 means
	// DefaultMaxExportBatchSize. It is capped at MaxQueueSize.
	MaxExportBatchSize int
	// BatchTimeout is the longest a partial batch waits; 0 means
	// DefaultBatchTimeout.
	BatchTimeout time.Duration
	// ExportTimeout bounds one export; 0 means DefaultExportTimeout.
	ExportTimeout time.Duration
}

// Provider is the service's tracer provider. Create it with New, share it,
// and Shutdown it last. A nil or disabled Provider turns every method into
// a cheap no-op.
type Provider struct {
	sdk    *sdktrace.TracerProvider // nil when off
	tracer trace.Tracer
	prop   propagation.TextMapPropagator

	serverStart   []trace.SpanStartOption
	clientStart   []trace.SpanStartOption
	internalStart []trace.SpanStartOption

	// names caches span names: route template → *routeNames.
	names sync.Map
}

// New returns the Provider the configuration asks for.
//
// Without an OTLP endpoint (cfg.TracingEnabled false) and without
// o.Exporter it returns a disabled Provider: no SDK, no exporter, no
// metric, and nothing on the request path.
//
// Otherwise spans go to cfg.OTLPTracesURL() over OTLP/HTTP, with the
// resource service.name = cfg.OTelServiceName, through a batch processor
// holding at most o.MaxQueueSize spans; spans refused because it is full,
// and spans whose export failed, are counted in otel_spans_dropped_total
// (label reason: queue_full, export_failed), registered on o.Registerer.
//
// Sampling follows cfg.TracesSampler and cfg.TracesSamplerArg ("" means
// the default, traceidratio with ratio 1):
//
//   - traceidratio: the service's own ratio decides, and a client cannot
//     sway it: neither the sampled flag of an incoming traceparent nor a
//     chosen trace id forces recording (a remote trace id is hashed with a
//     per-process secret seed before it is compared with the ratio). Child
//     spans follow their local parent, so traces stay whole.
//   - always_on, always_off: every span, or none.
//   - parentbased_always_on, parentbased_always_off,
//     parentbased_traceidratio: the operator chose to trust callers, so the
//     parent's sampled flag decides; the named sampler decides for roots.
//
// Whatever the decision, the trace id of an incoming traceparent is
// continued. New sets no OpenTelemetry global.
func New(ctx context.Context, cfg config.Config, o Options) (*Provider, error) {
	prop := o.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	if !cfg.TracingEnabled() && o.Exporter == nil {
		return &Provider{prop: prop}, nil
	}
	sampler, err := newSampler(cfg.TracesSampler, cfg.TracesSamplerArg)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	exp := o.Exporter
	if exp == nil {
		// The URL carries the scheme: http:// means no TLS. The exporter
		// still reads the other OTEL_EXPORTER_OTLP_* variables (headers,
		// compression, certificates), as the OTel specification says.
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.OTLPTracesURL()))
		if err != nil {
			// The URL may hold credentials: the config package already
			// checked it, so it is not quoted here.
			return nil, fmt.Errorf("tracing: create the OTLP/HTTP exporter: %w", err)
		}
	}
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otel_spans_dropped_total",
		Help: "Spans ended but never exported, by reason: queue_full (the bounded export queue was full) or export_failed.",
	}, []string{"reason"})
	queueFull, exportFailed := dropped.WithLabelValues("queue_full"), dropped.WithLabelValues("export_failed")
	if o.Registerer != nil {
		if err := o.Registerer.Register(dropped); err != nil {
			return nil, fmt.Errorf("tracing: register otel_spans_dropped_total: %w", err)
		}
	}

	maxQueue := positive(o.MaxQueueSize, DefaultMaxQueueSize)
	bp := newBoundedProcessor(exp, maxQueue, queueFull, exportFailed,
		sdktrace.WithMaxQueueSize(maxQueue),
		sdktrace.WithMaxExportBatchSize(min(positive(o.MaxExportBatchSize, DefaultMaxExportBatchSize), maxQueue)),
		sdktrace.WithBatchTimeout(positive(o.BatchTimeout, DefaultBatchTimeout)),
		sdktrace.WithExportTimeout(positive(o.ExportTimeout, DefaultExportTimeout)),
	)

	attrs := []attribute.KeyValue{semconv.ServiceNameKey.String(serviceName(cfg))}
	if o.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersionKey.String(o.ServiceVersion))
	}
	// No resource detectors: the configuration is the one source of the
	// service's identity (resource.Default would read OTEL_* again).
	res := resource.NewWithAttributes(semconv.SchemaURL, attrs...)

	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sampler),
		sdktrace.WithSpanProcessor(bp),
		sdktrace.WithResource(res),
	)
	return &Provider{
		sdk:           tp,
		tracer:        tp.Tracer(InstrumentationName),
		prop:          prop,
		serverStart:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
		clientStart:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)},
		internalStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
	}, nil
}

// serviceName is the configured service.name, or the default for a Config
// that was not loaded from the environment.
func serviceName(cfg config.Config) string {
	if cfg.OTelServiceName == "" {
		return config.DefaultOTelServiceName
	}
	return cfg.OTelServiceName
}

// positive returns v, or def when v is not positive.
func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Enabled reports whether p records and exports spans.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// Tracer returns the tracer of the service's spans, for spans this
// package has no helper for; it is a no-op tracer when p is disabled.
func (p *Provider) Tracer() trace.Tracer {
	if !p.Enabled() {
		return noopTracer
	}
	return p.tracer
}

// TracerProvider returns the OpenTelemetry tracer provider behind p (a
// no-op one when p is disabled), for instrumentation that takes one, such
// as the otelgin peer of the benchmarks. The service itself uses p.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if !p.Enabled() {
		return noop.NewTracerProvider()
	}
	return p.sdk
}

// Propagator returns the propagator p reads and writes trace context with.
func (p *Provider) Propagator() propagation.TextMapPropagator {
	if p == nil || p.prop == nil {
		return propagation.TraceContext{}
	}
	return p.prop
}

// ForceFlush exports every span ended so far, within ctx's deadline.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	if err := p.sdk.ForceFlush(ctx); err != nil {
		return fmt.Errorf("tracing: flush spans: %w", err)
	}
	return nil
}

// Shutdown flushes the spans still queued and stops the exporter, within
// ctx's deadline; spans ended afterwards are dropped. Call it after the
// HTTP server has drained, so the last requests' spans are sent.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("tracing: shutdown: spans still queued when the deadline passed: %w", err)
		}
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
