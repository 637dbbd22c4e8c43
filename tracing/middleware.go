package tracing

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// MaxPathAttrLen bounds the url.path attribute: the raw path is client
// input.
const MaxPathAttrLen = 256

// Middleware returns the gin middleware that serves each request inside a
// server span, named by method and route template ("POST /orders"; a
// request that matched no route gets the method alone, "GET"), continuing
// the caller's W3C trace context (traceparent, tracestate). The span
// carries http.request.method, http.route, url.path (at most
// MaxPathAttrLen bytes) and http.response.status_code; a 5xx or a panic
// sets its status to Error. Probe routes (/metrics, /healthz, /readyz) get
// no span.
//
// The request's context then holds the span, so child spans (StartQuery,
// StartSpan), TraceID (exemplars), LogHandler and Transport find it.
//
// Place it right after the request id middleware and before everything
// else: the access log, the RED metrics (exemplars) and error tracking
// read the span from the context, and the span must see the status the
// client got. A panic recovered by error tracking reaches the span as that
// 500 (and through RecordPanic); one that escapes every middleware
// (http.ErrAbortHandler) is recorded and re-raised, so net/http still sees
// it.
//
// When p is disabled it returns a middleware that does nothing (gin goes
// on to the next handler): no allocation.
//
// Why not otelgin: it builds a span name, an attribute set and semconv
// metrics from the raw request on every call, through otelhttp's generic
// path, and reads the global propagator unless told otherwise. This one
// uses the labels the rest of the stack agrees on (internal/httpx), caches
// span names per route, reads the traceparent header without
// canonicalising it, and does nothing for unsampled requests beyond
// carrying the context.
func (p *Provider) Middleware() gin.HandlerFunc {
	if !p.Enabled() {
		return func(*gin.Context) {}
	}
	return p.serve
}

// serve is the middleware when tracing is on.
func (p *Provider) serve(c *gin.Context) {
	route := c.FullPath()
	if httpx.IsProbe(route) {
		return
	}
	r := c.Request
	idx := httpx.MethodIndex(r.Method)
	ctx := p.prop.Extract(r.Context(), headerCarrier(r.Header))
	ctx, span := p.tracer.Start(ctx, p.spanName(route, idx), p.serverStart...)
	sc := withSpanIDs(ctx, span.SpanContext())
	c.Request = r.WithContext(sc)
	defer p.finish(c, span, sc, route, idx)
	c.Next()
}

// finish is deferred by serve: it records the outcome, ends the span and
// re-raises a panic.
func (p *Provider) finish(c *gin.Context, span trace.Span, sc *spanCtx, route string, idx int) {
	v := recover()
	if span.IsRecording() {
		status := c.Writer.Status()
		if v != nil && !c.Writer.Written() {
			status = http.StatusInternalServerError
		}
		attrs := [4]attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(httpx.MethodLabel(idx)),
			semconv.URLPathKey.String(httpx.Clip(c.Request.URL.Path, MaxPathAttrLen)),
			semconv.HTTPResponseStatusCodeKey.Int(status),
		}
		n := 3
		if route != "" {
			attrs[n] = semconv.HTTPRouteKey.String(route)
			n++
		}
		span.SetAttributes(attrs[:n]...)
		switch {
		case v != nil:
			recordPanic(span, v)
		case status >= 500 && !sc.panicked.Load(): // RecordPanic's status stays
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
	if v != nil {
		panic(v)
	}
}

// RecordPanic marks the span in ctx as failed by a panic with value v
// (its type only: the value may hold request data, and error tracking has
// it, scrubbed, under the same trace id). The panic middleware calls it
// for a panic it recovers, before it answers 500. It does nothing when
// ctx holds no recording span.
func RecordPanic(ctx context.Context, v any) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	recordPanic(span, v)
	if c, ok := ctx.Value(spanCtxKey{}).(*spanCtx); ok && c.sc.SpanID() == span.SpanContext().SpanID() {
		c.panicked.Store(true)
	}
}

func recordPanic(span trace.Span, v any) {
	typ := fmt.Sprintf("%T", v)
	span.AddEvent("exception", trace.WithAttributes(
		semconv.ExceptionTypeKey.String(typ),
		attribute.Bool("exception.escaped", true),
	))
	span.SetAttributes(semconv.ErrorTypeKey.String(typ))
	span.SetStatus(codes.Error, "panic")
}

// routeNames are the span names of one route, by method index.
type routeNames [httpx.NumMethods]string

// spanName returns "METHOD /route/template", or the method alone for a
// request that matched no route. Names are made once per route: route
// templates are a fixed set, never client input.
func (p *Provider) spanName(route string, idx int) string {
	if route == "" {
		return httpx.MethodLabel(idx)
	}
	if v, ok := p.names.Load(route); ok {
		return v.(*routeNames)[idx]
	}
	n := new(routeNames)
	for i := range n {
		n[i] = httpx.MethodLabel(i) + " " + route
	}
	v, _ := p.names.LoadOrStore(route, n)
	return v.(*routeNames)[idx]
}

// headerCarrier reads the W3C headers by their canonical keys, which
// http.Header.Get would compute (and allocate) on every request. A request
// with more than one traceparent is treated as having none.
type headerCarrier http.Header

// Get implements propagation.TextMapCarrier.
func (h headerCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		if v := h["Traceparent"]; len(v) == 1 {
			return v[0]
		}
		return ""
	case "tracestate":
		if v := h["Tracestate"]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return http.Header(h).Get(key)
}

// Set implements propagation.TextMapCarrier; extraction never calls it.
func (h headerCarrier) Set(key, value string) { http.Header(h).Set(key, value) }

// Keys implements propagation.TextMapCarrier.
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
