// Package errortracking recovers panics and reports failures to Sentry: the
// panic-recovery and error-reporting gin middleware, the recover-and-report
// helper for background goroutines, and their delivery through a bounded,
// observable queue.
//
// No global state: a Tracker owns its sentry.Client and a base sentry.Hub
// that nothing captures through directly. Every report goes through a clone
// of that hub made when (and only when) there is something to report, so
// tags from one request never reach another's event, and the happy path of
// a request pays for nothing but a deferred call and a status check.
//
// Every event passes the scrubber (BeforeSend and BeforeSendTransaction)
// before it leaves: configured secrets are replaced wherever a string is
// found, sensitive headers, cookies, query strings, request bodies and user
// data are dropped, and an event that still holds a secret afterwards is
// dropped whole.
package errortracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/problem"
)

// Defaults and bounds of Options.
const (
	DefaultEnvironment = "development"
	DefaultHTTPTimeout = 5 * time.Second
	MaxHTTPTimeout     = time.Minute
	DefaultQueueSize   = 100
	MaxQueueSize       = 10_000
)

// Tag names set on request and goroutine events.
const (
	TagEndpoint   = "endpoint"
	TagRequestID  = "request_id"
	TagOrderID    = "order_id"
	TagStatusCode = "status_code"
	TagGoroutine  = "goroutine"
)

// unmatched names the route of a request that matched none, as the metrics
// do.
const unmatched = "unmatched"

// headerRequestID is where the request-id middleware keeps the request's id.
const headerRequestID = "X-Request-Id"

// maxValueLen bounds strings taken from panics and requests into an event.
const maxValueLen = 8 << 10

// PanicCounter counts recovered panics by route template; the metrics
// package implements it.
type PanicCounter interface {
	PanicRecovered(endpoint string)
}

// Options configure a Tracker. The zero value works: nothing is sent,
// logs go to slog.Default, and nothing is counted on a registry.
type Options struct {
	Logger *slog.Logger
	Panics PanicCounter

	// DSN is the Sentry DSN. Empty disables delivery only: events are still
	// built and scrubbed the same way, then discarded. (The SDK falls back
	// to the SENTRY_DSN environment variable for its own bookkeeping; the
	// tracker never sends anywhere but to DSN.)
	DSN string
	// Environment defaults to DefaultEnvironment.
	Environment string
	// Release defaults to the main module's build version.
	Release string
	// TracesSampleRate in [0, 1] is the share of requests traced. 0 turns
	// tracing off, and then it costs nothing per request.
	TracesSampleRate float64
	// Secrets are strings that must never leave the process (admin and
	// webhook tokens, …). The DSN and its keys are added automatically.
	// Strings shorter than 4 bytes are ignored.
	Secrets []string
	// HTTPTimeout bounds one delivery to Sentry; default DefaultHTTPTimeout,
	// at most MaxHTTPTimeout.
	HTTPTimeout time.Duration
	// QueueSize bounds the events waiting for delivery; default
	// DefaultQueueSize, at most MaxQueueSize. Events captured while the
	// queue is full are dropped and counted.
	QueueSize int
	// Registerer receives sentry_events_dropped_total{reason}. Nil: the
	// counter exists but is not exported.
	Registerer prometheus.Registerer
}

// Tracker recovers and reports panics and server errors.
type Tracker struct {
	logger    *slog.Logger
	panics    PanicCounter
	client    *sentry.Client
	hub       *sentry.Hub // base hub: only ever cloned
	transport *queueTransport
	drops     *dropCounter
	scrub     *scrubber
	enabled   bool
	tracing   bool
	closeOnce sync.Once
}

// New returns a Tracker. Close it when done (after Flush).
func New(opts Options) (*Tracker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if !(opts.TracesSampleRate >= 0 && opts.TracesSampleRate <= 1) {
		return nil, errors.New("errortracking: TracesSampleRate must be from 0 to 1")
	}
	switch {
	case opts.HTTPTimeout < 0:
		return nil, errors.New("errortracking: HTTPTimeout must not be negative")
	case opts.HTTPTimeout == 0:
		opts.HTTPTimeout = DefaultHTTPTimeout
	case opts.HTTPTimeout > MaxHTTPTimeout:
		opts.HTTPTimeout = MaxHTTPTimeout
	}
	switch {
	case opts.QueueSize < 0:
		return nil, errors.New("errortracking: QueueSize must not be negative")
	case opts.QueueSize == 0:
		opts.QueueSize = DefaultQueueSize
	case opts.QueueSize > MaxQueueSize:
		opts.QueueSize = MaxQueueSize
	}
	if opts.DSN != "" {
		// The parser's message may quote the DSN; never pass it on.
		if _, err := sentry.NewDsn(opts.DSN); err != nil {
			return nil, errors.New("errortracking: the DSN is not a valid Sentry DSN (want http(s)://<key>@<host>/<project>)")
		}
	}
	if opts.Environment == "" {
		opts.Environment = DefaultEnvironment
	}
	if opts.Release == "" {
		opts.Release = buildVersion()
	}
	drops, err := newDropCounter(opts.Registerer)
	if err != nil {
		return nil, err
	}
	t := &Tracker{
		logger:  opts.Logger,
		panics:  opts.Panics,
		drops:   drops,
		scrub:   newScrubber(opts.DSN, opts.Secrets),
		enabled: opts.DSN != "",
		tracing: opts.TracesSampleRate > 0,
	}
	t.transport = newQueueTransport(opts.DSN, opts.QueueSize, opts.HTTPTimeout, drops, opts.Logger)
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:              opts.DSN,
		Environment:      opts.Environment,
		Release:          opts.Release,
		EnableTracing:    t.tracing,
		TracesSampleRate: opts.TracesSampleRate,
		SendDefaultPII:   false,
		DataCollection: &sentry.DataCollection{
			UserInfo: sentry.Set(false),
			Cookies:  &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
			HTTPHeaders: &sentry.HeaderCollectionConfig{
				Request:  &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
				Response: &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
			},
			HTTPBodies:  []sentry.BodyType{},
			QueryParams: &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
		},
		BeforeSend:            t.beforeSend,
		BeforeSendTransaction: t.beforeSend,
		Transport:             t.transport,
		DisableClientReports:  true,
		MaxErrorDepth:         10,
		MaxBreadcrumbs:        20,
	})
	if err != nil {
		t.transport.Close()
		return nil, fmt.Errorf("errortracking: create Sentry client: %s", t.scrub.str(err.Error()))
	}
	t.client = client
	t.hub = sentry.NewHub(client, sentry.NewScope())
	return t, nil
}

// Enabled reports whether events are delivered (a DSN is set).
func (t *Tracker) Enabled() bool { return t.enabled }

// beforeSend scrubs every event and transaction, and drops one that still
// holds a secret in its JSON form.
func (t *Tracker) beforeSend(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event {
	ev = t.scrub.event(ev)
	b, err := json.Marshal(ev)
	if err != nil {
		return ev // the transport will fail on it too, and count it
	}
	if t.scrub.leaks(b) {
		t.drops.inc(DropScrubFailed)
		t.logger.Warn("error tracking: dropped an event that still held a secret after scrubbing",
			slog.String("event_id", string(ev.EventID)))
		return nil
	}
	return ev
}

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
	tx.SetData("http.request.method", method(r.Method))
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
	t.logger.LogAttrs(c.Request.Context(), slog.LevelError, "panic recovered",
		slog.String("request_id", c.Writer.Header().Get(headerRequestID)),
		slog.String("method", c.Request.Method),
		slog.String("endpoint", endpoint),
		slog.String("panic", truncate(fmt.Sprint(v))),
		slog.String("stack", string(debug.Stack())),
	)
	c.Abort()
	if !c.Writer.Written() {
		problem.Write(c.Writer, problem.New(http.StatusInternalServerError, problem.SlugInternal, "an unexpected error occurred"))
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
	if id := c.Writer.Header().Get(headerRequestID); id != "" {
		tags[TagRequestID] = truncateTo(id, 128)
	}
	if id := orderIDOf(c); id != "" {
		tags[TagOrderID] = id
	}
	hub.Scope().SetTags(tags)
	ev.Transaction = transactionName(c)
	ev.Request = requestOf(c.Request)
	ev.Contexts["response"] = sentry.Context{"status_code": status}
	hub.CaptureEvent(ev)
}

// panicEvent builds a fatal event for a recovered panic, with the stack of
// the panicking goroutine (it must be called while the panic unwinds, from
// the deferred function or below it). mechanism names where it was caught.
func (t *Tracker) panicEvent(v any, mechanism string) *sentry.Event {
	var ev *sentry.Event
	if err, ok := v.(error); ok {
		ev = t.client.EventFromException(err, sentry.LevelFatal)
	} else {
		ev = sentry.NewEvent()
		ev.Level = sentry.LevelFatal
		ev.Exception = []sentry.Exception{{
			Type:       "panic",
			Value:      truncate(fmt.Sprint(v)),
			Stacktrace: sentry.NewStacktrace(),
		}}
	}
	if n := len(ev.Exception); n > 0 {
		top := &ev.Exception[n-1]
		if top.Mechanism == nil {
			top.Mechanism = &sentry.Mechanism{}
		}
		top.Mechanism.Type = mechanism
		handled := false
		top.Mechanism.Handled = &handled
	}
	return ev
}

// orderIDKey is the gin key SetOrderID stores under.
const orderIDKey = "errortracking.order_id"

// SetOrderID tells error tracking which order a request is about, for the
// order_id tag. Call it only when it matters (on the error path): it
// allocates the context's key map. Requests on /orders/:id are tagged with
// their id without it.
func SetOrderID(c *gin.Context, id string) {
	c.Set(orderIDKey, id)
}

// orderIDOf returns a request's order id, if known and sane.
func orderIDOf(c *gin.Context) string {
	id := ""
	if v, ok := c.Get(orderIDKey); ok {
		id, _ = v.(string)
	} else if strings.HasPrefix(c.FullPath(), "/orders/") {
		id = c.Param("id")
	}
	if !saneID(id) {
		return ""
	}
	return id
}

// saneID accepts an order id, not whatever a client put in the path.
func saneID(s string) bool { return ordersvc.IsSafeToken(s, 64) }

// routeOf is the request's route template, or "unmatched".
func routeOf(c *gin.Context) string {
	if p := c.FullPath(); p != "" {
		return p
	}
	return unmatched
}

// transactionName is "METHOD /route/:template".
func transactionName(c *gin.Context) string {
	return method(c.Request.Method) + " " + routeOf(c)
}

// method keeps the standard methods and maps anything else to OTHER, so
// transaction names stay a closed set.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
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
		Method: method(r.Method),
		URL:    scheme + "://" + truncateTo(r.Host, 255) + truncateTo(r.URL.Path, 2048),
	}
	for _, h := range reportedHeaders {
		if v := r.Header.Get(h); v != "" {
			if out.Headers == nil {
				out.Headers = make(map[string]string, len(reportedHeaders))
			}
			out.Headers[h] = truncateTo(v, 256)
		}
	}
	return out
}

// Go runs fn in a new goroutine under recover: a panic is logged and
// reported instead of crashing the process. name says what the goroutine
// is, for the report (the goroutine tag).
func (t *Tracker) Go(ctx context.Context, name string, fn func(ctx context.Context)) {
	go t.Run(ctx, name, fn)
}

// Run calls fn under recover, in the calling goroutine, and reports
// whether fn returned normally. A panic is logged and reported to Sentry as
// a fatal event tagged with the goroutine's name.
func (t *Tracker) Run(ctx context.Context, name string, fn func(ctx context.Context)) (ok bool) {
	defer t.recoverGoroutine(ctx, name, &ok)
	fn(ctx)
	return true
}

// recoverGoroutine is deferred by Run; it must call recover itself.
func (t *Tracker) recoverGoroutine(ctx context.Context, name string, ok *bool) {
	v := recover()
	if v == nil {
		return
	}
	*ok = false
	t.logger.LogAttrs(ctx, slog.LevelError, "panic recovered in background goroutine",
		slog.String("goroutine", name),
		slog.String("panic", truncate(fmt.Sprint(v))),
		slog.String("stack", string(debug.Stack())),
	)
	ev := t.panicEvent(v, "goroutine")
	hub := t.hub.Clone()
	hub.Scope().SetTag(TagGoroutine, truncateTo(name, 200))
	hub.CaptureEvent(ev)
}

// CaptureEvent sends an event assembled by the caller (say, an alert with
// its own Fingerprint so repeats group into one issue) through a clone of
// the base hub, scrubbed like every other event. It returns the event's id,
// or "" when the event was not accepted.
func (t *Tracker) CaptureEvent(ev *sentry.Event) sentry.EventID {
	if ev == nil {
		return ""
	}
	id := t.hub.Clone().CaptureEvent(ev)
	if id == nil {
		return ""
	}
	return *id
}

// Flush waits until the events captured so far are delivered (or counted
// as dropped), bounded by ctx. It reports whether everything was handled
// in time.
func (t *Tracker) Flush(ctx context.Context) bool {
	return t.client.FlushWithContext(ctx)
}

// Close stops delivery and releases the tracker's goroutines and
// connections. Events still queued are dropped: call Flush first. Close is
// idempotent.
func (t *Tracker) Close() {
	t.closeOnce.Do(t.client.Close)
}

// buildVersion is the main module's version, for the default release.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "unknown"
}

func truncate(s string) string { return truncateTo(s, maxValueLen) }

func truncateTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
