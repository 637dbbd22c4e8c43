package tracing

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// boundedProcessor puts a counted bound in front of the SDK's batch span
// processor.
//
// Why: in sdk v1.47 the batch processor drops a span when its queue is
// full but keeps the count to itself (an unexported field, logged at debug
// level; its self-observability metrics are experimental, opt-in through
// an environment variable and go to the global MeterProvider). So this
// wrapper keeps its own count of the spans handed to the batch processor
// and not yet through the exporter (queued, batched or being sent), and
// refuses a span, counting it, when that count would pass the bound. The
// batch processor's own queue has the same capacity and never holds more
// than that count, so it never drops on its own: every span lost to a full
// queue is counted here. A side effect is a stricter bound: at most
// maxQueue spans are held for export, not maxQueue plus a batch in flight.
type boundedProcessor struct {
	sdktrace.SpanProcessor // the batch processor

	pending   *atomic.Int64
	max       int64
	queueFull prometheus.Counter
}

// newBoundedProcessor returns a batch processor over exp that holds at
// most maxQueue spans; opts must set the batch processor's queue size to
// maxQueue.
func newBoundedProcessor(exp sdktrace.SpanExporter, maxQueue int, queueFull, exportFailed prometheus.Counter, opts ...sdktrace.BatchSpanProcessorOption) *boundedProcessor {
	pending := new(atomic.Int64)
	ce := &countingExporter{SpanExporter: exp, pending: pending, failed: exportFailed}
	return &boundedProcessor{
		SpanProcessor: sdktrace.NewBatchSpanProcessor(ce, opts...),
		pending:       pending,
		max:           int64(maxQueue),
		queueFull:     queueFull,
	}
}

// OnEnd implements sdktrace.SpanProcessor.
func (b *boundedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	// The batch processor ignores unsampled spans: so does the count.
	if !s.SpanContext().IsSampled() {
		return
	}
	if b.pending.Add(1) > b.max {
		b.pending.Add(-1)
		b.queueFull.Inc()
		return
	}
	b.SpanProcessor.OnEnd(s)
}

// countingExporter releases the bounded processor's count once spans are
// through the exporter, and counts those whose export failed.
type countingExporter struct {
	sdktrace.SpanExporter

	pending *atomic.Int64
	failed  prometheus.Counter
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.pending.Add(-int64(len(spans)))
	if err != nil {
		e.failed.Add(float64(len(spans)))
	}
	return err
}
