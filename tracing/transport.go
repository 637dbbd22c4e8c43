package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// Transport returns base (http.DefaultTransport when nil) wrapped to send
// the trace context of each request's context on the request: with W3C
// Trace Context, traceparent and tracestate.
//
// When p is enabled and the context holds a recording span, each request
// gets a client span of its own, named by its method ("POST"), with
// http.request.method, server.address and http.response.status_code, ended
// when the response headers arrive; the callee then continues that span.
// Otherwise the context's span context, if valid, is sent as it is: an
// unsampled request's, or one made by ContextWithNewTrace (loadgen, with
// p nil). A request whose context has no span context is sent untouched.
//
// The request is never modified: a traced one is cloned first, as
// http.RoundTripper requires.
func Transport(base http.RoundTripper, p *Provider) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, p: p, prop: p.Propagator()}
}

type transport struct {
	base http.RoundTripper
	p    *Provider
	prop propagation.TextMapPropagator
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return t.base.RoundTrip(r)
	}
	var span trace.Span
	if t.p.Enabled() && trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = t.p.tracer.Start(ctx, httpx.Method(r.Method), t.p.clientStart...)
		span.SetAttributes(
			semconv.HTTPRequestMethodKey.String(httpx.Method(r.Method)),
			semconv.ServerAddressKey.String(r.URL.Hostname()),
		)
	}
	out := r.Clone(ctx)
	t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := t.base.RoundTrip(out)
	if span != nil {
		switch {
		case err != nil:
			span.SetStatus(codes.Error, "transport error")
			span.SetAttributes(semconv.ErrorTypeKey.String("transport"))
		default:
			span.SetAttributes(semconv.HTTPResponseStatusCodeKey.Int(resp.StatusCode))
			if resp.StatusCode >= 400 { // a client span fails on 4xx too (semantic conventions)
				span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
			}
		}
		span.End()
	}
	return resp, err
}
