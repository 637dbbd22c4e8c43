package errortracking

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/httpx"
	"github.com/ordersvc/ordersvc/problem"
	"github.com/ordersvc/ordersvc/tracing"
)

// Middleware recovers a panic in the rest of the chain: the client gets a
// 500 problem+json, the panic is counted, logged with its stack and the
// request id, reported to Sentry as one fatal event, and the process keeps
// serving. After the chain, a server error (see reportable) is reported
// through a hub cloned for this request only. Place it inside the metrics
// middleware (which must see the 500) and outside everything that may
// panic.
//
// With tracing off, the happy path costs a deferred call and a status
// check: no hub, no allocation.
func (t *Tracker) Middleware() gin.HandlerFunc {
	if t.tracing {
		return t.traced
	}
	return func(c *gin.Context) {
		defer t.recoverRequest(c)
		c.Next()
		if reportable(c) {
			t.captureServerError(c, nil)
		}
	}
}

// recoverRequest is deferred by the middleware; it must call recover itself.
func (t *Tracker) recoverRequest(c *gin.Context) {
	v := recover()
	if v == nil {
		return
	}
	if isAbort(v) {
		panic(v)
	}
	t.recovered(c, v, nil)
}

// traced is the middleware when tracing is on: a transaction per request,
// named by route and continuing the incoming sentry-trace and baggage
// headers, on a hub of the request's own that errors are captured through
// too (so they link to the trace).
func (t *Tracker) traced(c *gin.Context) {
	hub := t.hub.Clone()
	r := c.Request
	ctx := sentry.SetHubOnContext(r.Context(), hub)
	tx := sentry.StartTransaction(ctx, transactionName(c),
		sentry.ContinueTrace(hub, r.Header.Get(sentry.SentryTraceHeader), r.Header.Get(sentry.SentryBaggageHeader)),
		sentry.WithOpName("http.server"),
		sentry.WithTransactionSource(sentry.SourceRoute),
	)
	tx.SetData("http.request.method", httpx.Method(r.Method))
	c.Request = r.WithContext(tx.Context())
	defer t.finishTraced(c, hub, tx)
	c.Next()
	if reportable(c) {
		t.captureServerError(c, hub)
	}
}

// finishTraced is deferred by traced: it recovers a panic and finishes the
// transaction with the status the client got.
func (t *Tracker) finishTraced(c *gin.Context, hub *sentry.Hub, tx *sentry.Span) {
	v := recover()
	abort := v != nil && isAbort(v)
	if v != nil && !abort {
		t.recovered(c, v, hub)
	}
	status := c.Writer.Status()
	if v != nil && !c.Writer.Written() {
		status = http.StatusInternalServerError
	}
	tx.Status = sentry.HTTPtoSpanStatus(status)
	tx.SetData("http.response.status_code", status)
	tx.Finish()
	if abort {
		panic(v)
	}
}

// isAbort reports whether a panic value is http.ErrAbortHandler, net/http's
// way to abort a response on purpose: not a bug, and net/http must see it.
func isAbort(v any) bool {
	err, ok := v.(error)
	return ok && errors.Is(err, http.ErrAbortHandler)
}

// reportable reports whether a finished request is a server error worth an
// event: a 5xx with an error attached (c.Error, as handlers do for every
// server-side failure), or a bare 500. A 502–504 without an attached error
// is a deliberate signal (a readiness probe while draining), not a bug;
// 4xx are client errors and never reported.
func reportable(c *gin.Context) bool {
	s := c.Writer.Status()
	return s >= 500 && (len(c.Errors) > 0 || s == http.StatusInternalServerError)
}

// recovered handles a panic recovered in a request; hub is the request's
// hub when tracing made one, else nil.
func (t *Tracker) recovered(c *gin.Context, v any, hub *sentry.Hub) {
	endpoint := c.FullPath()
	if t.panics != nil {
		t.panics.PanicRecovered(endpoint)
	}
	tracing.RecordPanic(c.Request.Context(), v)
	t.logger.LogAttrs(c.Request.Context(), slog.LevelError, "panic recovered",
		slog.String("request_id", httpx.RequestID(c.Request.Context())),
		slog.String("method", c.Request.Method),
		slog.String("endpoint", endpoint),
		slog.String("panic", truncate(fmt.Sprint(v))),
		slog.String("stack", string(debug.Stack())),
	)
	c.Abort()
	if !c.Writer.Written() {
		problem.Write(c.Writer, c.Request, problem.New(http.StatusInternalServerError, problem.SlugInternal, "an unexpected error occurred"))
	}
	// Otherwise the headers are gone and the client sees a truncated reply.
	t.captureRequest(c, hub, t.panicEvent(v, "gin"), http.StatusInternalServerError)
}

// captureServerError reports the error(s) a handler attached to a request
// that ended in a server error.
func (t *Tracker) captureServerError(c *gin.Context, hub *sentry.Hub) {
	status := c.Writer.Status()
	var ev *sentry.Event
	switch len(c.Errors) {
	case 0:
		ev = t.client.EventFromMessage(fmt.Sprintf("%s answered %d with no error attached", transactionName(c), status), sentry.LevelError)
	case 1:
		ev = t.client.EventFromException(c.Errors[0].Err, sentry.LevelError)
	default:
		errs := make([]error, 0, len(c.Errors))
		for _, e := range c.Errors {
			errs = append(errs, e.Err)
		}
		ev = t.client.EventFromException(errors.Join(errs...), sentry.LevelError)
	}
	t.captureRequest(c, hub, ev, status)
}

// Bounds of the tags a TagFunc adds.
const (
	maxTagKeyLen   = 32
	maxTagValueLen = 200
)

// captureRequest sends ev through the request's hub (cloned now from the
// base hub unless tracing made one), with the route-named transaction, the
// request (method, URL without query, harmless headers) and the request's
// tags.
func (t *Tracker) captureRequest(c *gin.Context, hub *sentry.Hub, ev *sentry.Event, status int) {
	if hub == nil {
		hub = t.hub.Clone()
	}
	route := routeOf(c)
	tags := map[string]string{
		TagEndpoint:   route,
		TagStatusCode: strconv.Itoa(status),
	}
	if id := httpx.RequestID(c.Request.Context()); id != "" {
		tags[TagRequestID] = id
	}
	if t.tags != nil {
		t.tags(c, func(key, value string) {
			if _, fixed := tags[key]; !fixed && len(key) <= maxTagKeyLen && ordersvc.IsSafeToken(value, maxTagValueLen) {
				tags[key] = value
			}
		})
	}
	// The request's OpenTelemetry trace: the tag links the Sentry issue to
	// the trace, its log lines and its exemplar, all by one id.
	if traceID, spanID, ok := tracing.IDs(c.Request.Context()); ok {
		tags[TagTraceID] = traceID
		// Without a Sentry transaction the scope's propagation context
		// becomes the event's trace context: make it the request's trace.
		var pc sentry.PropagationContext
		if _, err := hex.Decode(pc.TraceID[:], []byte(traceID)); err == nil {
			if _, err := hex.Decode(pc.SpanID[:], []byte(spanID)); err == nil {
				hub.Scope().SetPropagationContext(pc)
			}
		}
	}
	hub.Scope().SetTags(tags)
	ev.Transaction = transactionName(c)
	ev.Request = requestOf(c.Request)
	ev.Contexts["response"] = sentry.Context{"status_code": status}
	hub.CaptureEvent(ev)
}

// routeOf is the request's route label: its template, or "unmatched".
func routeOf(c *gin.Context) string { return httpx.RouteLabel(c.FullPath()) }

// transactionName is "METHOD /route/:template", from closed sets only.
func transactionName(c *gin.Context) string {
	return httpx.Method(c.Request.Method) + " " + routeOf(c)
}

// reportedHeaders are the request headers an event may carry; every other
// header (Authorization, Cookie, X-Api-Key, …) stays in the process.
var reportedHeaders = [...]string{"Accept", "Content-Length", "Content-Type", "User-Agent"}

// requestOf describes r for an event: method, URL without query string,
// and the harmless headers. Never the body, cookies or query.
func requestOf(r *http.Request) *sentry.Request {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	out := &sentry.Request{
		Method: httpx.Method(r.Method),
		URL:    scheme + "://" + httpx.Clip(r.Host, 255) + httpx.Clip(r.URL.Path, 2048),
	}
	for _, h := range reportedHeaders {
		if v := r.Header.Get(h); v != "" {
			if out.Headers == nil {
				out.Headers = make(map[string]string, len(reportedHeaders))
			}
			out.Headers[h] = httpx.Clip(v, 256)
		}
	}
	return out
}

// Go runs fn in a new goroutine under recover: a panic is logged and
