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
	"runtime/debug"
	"sync"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/internal/httpx"
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
	TagStatusCode = "status_code"
	TagGoroutine  = "goroutine"
	TagTraceID    = "trace_id"
)

// maxValueLen bounds strings taken from panics and requests into an event.
const maxValueLen = 8 << 10

// PanicCounter counts recovered panics by route template; the metrics
// package implements it.
type PanicCounter interface {
	PanicRecovered(endpoint string)
}

// TagFunc adds the tags a request's event should carry beyond the endpoint,
// status and request id (the handlers add order_id, say), by calling set.
// It runs only on the error path, so it may look things up; values that are
// not safe tokens are dropped.
type TagFunc func(c *gin.Context, set func(key, value string))

// Options configure a Tracker. The zero value works: nothing is sent,
// logs go to slog.Default, and nothing is counted on a registry.
type Options struct {
	Logger *slog.Logger
	Panics PanicCounter
	// RequestTags, when set, adds tags to the events of a request.
	RequestTags TagFunc

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
	tags      TagFunc
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
		tags:    opts.RequestTags,
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
		// The service's own rate decides, always: a sampler that ignores
		// the parent's decision means a client's sentry-trace header
		// ("…-1") cannot make the service record and send a transaction.
		TracesSampler:  ownRate(opts.TracesSampleRate),
		SendDefaultPII: false,
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

// ownRate is a traces sampler that returns rate whatever the incoming
// trace decided.
func ownRate(rate float64) sentry.TracesSampler {
	return func(sentry.SamplingContext) float64 { return rate }
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

// truncate bounds a string taken from a panic or a request.
func truncate(s string) string { return httpx.Clip(s, maxValueLen) }
