package tracing

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// noopTracer is what a disabled Provider hands out. It is stateless.
var noopTracer = noop.NewTracerProvider().Tracer(InstrumentationName)

// spanCtx is the request context the middleware makes: it holds the
// server span's ids in hex once, so that exemplars and log lines read them
// without encoding (and allocating) on every use.
type spanCtx struct {
	context.Context
	sc      trace.SpanContext
	traceID string
	spanID  string
	buf     [2*len(trace.TraceID{}) + 2*len(trace.SpanID{})]byte
	// panicked is set by RecordPanic, so the middleware keeps the status
	// it set.
	panicked atomic.Bool
}

// spanCtxKey is the context key of the *spanCtx; Value returns the pointer
// itself, which fits an interface without allocating.
type spanCtxKey struct{}

// Value implements context.Context.
func (c *spanCtx) Value(key any) any {
	if _, ok := key.(spanCtxKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// withSpanIDs returns ctx (which holds sc's span) with sc's ids encoded.
// The bytes are never written after the strings are made, as unsafe.String
// requires.
func withSpanIDs(ctx context.Context, sc trace.SpanContext) *spanCtx {
	c := &spanCtx{Context: ctx, sc: sc}
	tid, sid := sc.TraceID(), sc.SpanID()
	n := hex.Encode(c.buf[:], tid[:])
	hex.Encode(c.buf[n:], sid[:])
	c.traceID = unsafe.String(&c.buf[0], n)
	c.spanID = unsafe.String(&c.buf[n], len(c.buf)-n)
	return c
}

// IDs returns the hex trace and span ids of the span in ctx, sampled or
// not, and false when ctx holds no valid span context. It is what log
// lines and error reports carry to link to a trace; within a request
// served through the middleware the server span's ids cost no allocation
// (a child span's id is encoded on each call).
func IDs(ctx context.Context) (traceID, spanID string, ok bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", "", false
	}
	if c, found := ctx.Value(spanCtxKey{}).(*spanCtx); found && c.sc.TraceID() == sc.TraceID() {
		if c.sc.SpanID() == sc.SpanID() {
			return c.traceID, c.spanID, true
		}
		return c.traceID, sc.SpanID().String(), true
	}
	return sc.TraceID().String(), sc.SpanID().String(), true
}

// TraceID returns the hex trace id of the sampled span in ctx, and false
// when ctx holds no span or an unsampled one. Within a request served
// through the middleware it allocates nothing.
//
// It is the exemplar source for the RED metrics:
//
//	if id, ok := tracing.TraceID(ctx); ok {
//		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(v, prometheus.Labels{"trace_id": id})
//	}
func TraceID(ctx context.Context) (string, bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() || !sc.IsValid() {
		return "", false
	}
	id, _, _ := IDs(ctx)
	return id, true
}

// ContextWithNewTrace returns ctx carrying the span context of a new
// trace (random trace and span ids, the sampled flag as given, nothing
// recorded). It is for clients with no tracer of their own (cmd/loadgen):
// through Transport, a request made with it sends the traceparent of a
// fresh trace, which the service continues. It returns the hex trace id,
// to print or to look the trace up.
func ContextWithNewTrace(ctx context.Context, sampled bool) (context.Context, string) {
	var cfg trace.SpanContextConfig
	for cfg.TraceID == (trace.TraceID{}) || cfg.SpanID == (trace.SpanID{}) {
		binary.BigEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
		binary.BigEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
	}
	cfg.TraceFlags = trace.FlagsRandom
	if sampled {
		cfg.TraceFlags |= trace.FlagsSampled
	}
	sc := trace.NewSpanContext(cfg)
	return trace.ContextWithSpanContext(ctx, sc), sc.TraceID().String()
}
