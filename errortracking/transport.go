package errortracking

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons an event is dropped, the values of sentry_events_dropped_total's
// reason label. The set is closed.
const (
	// DropQueueFull: the delivery queue was full (Sentry slow or down).
	DropQueueFull = "queue_full"
	// DropRateLimited: Sentry answered 429, or asked us to back off.
	DropRateLimited = "rate_limited"
	// DropNetworkError: the request failed or timed out.
	DropNetworkError = "network_error"
	// DropSendError: Sentry refused the envelope (a non-2xx other than 429).
	DropSendError = "send_error"
	// DropInternalError: the event could not be encoded or sent.
	DropInternalError = "internal_error"
	// DropScrubFailed: the event still held a secret after scrubbing.
	DropScrubFailed = "scrub_failed"
	// DropShutdown: the event was captured after Close.
	DropShutdown = "shutdown"
)

var dropReasons = [...]string{DropQueueFull, DropRateLimited, DropNetworkError, DropSendError, DropInternalError, DropScrubFailed, DropShutdown}

// dropCounter counts dropped events by reason. Its children are resolved
// once, so counting never hashes labels.
type dropCounter struct {
	vec      *prometheus.CounterVec
	children map[string]prometheus.Counter
}

func newDropCounter(reg prometheus.Registerer) (*dropCounter, error) {
	d := &dropCounter{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentry_events_dropped_total",
			Help: "Error-tracking events not delivered to Sentry, by reason (queue_full, rate_limited, network_error, send_error, internal_error, scrub_failed, shutdown).",
		}, []string{"reason"}),
		children: make(map[string]prometheus.Counter, len(dropReasons)),
	}
	for _, r := range dropReasons {
		d.children[r] = d.vec.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(d.vec); err != nil {
			return nil, fmt.Errorf("errortracking: register sentry_events_dropped_total: %w", err)
		}
	}
	return d, nil
}

func (d *dropCounter) inc(reason string) { d.children[reason].Inc() }

// queueTransport is a sentry.Transport with two bounded queues and one
// delivery worker. Capturing never blocks: when its queue is full an event
// is dropped and counted. Errors (panics, server errors, alerts) and
// transactions have separate budgets, and the worker always delivers a
// queued error first: no amount of traced traffic, however slow Sentry is,
// can crowd an error out. The worker hands each event to the SDK's own
// HTTPSyncTransport (which encodes the envelope and honours Sentry's rate
// limits, per category) through an observing http.RoundTripper, so that
// every event that does not reach Sentry is counted with its reason.
//
// Why not sentry.HTTPTransport: it drops silently when its buffer is full
// or Sentry rate-limits, shares one buffer between errors and transactions,
// and nothing outside the SDK can see it happen.
type queueTransport struct {
	enabled      bool
	inner        *sentry.HTTPSyncTransport
	obs          *observer
	base         *http.Transport
	errors       chan *sentry.Event
	transactions chan *sentry.Event
	flushes      chan chan struct{}
	drops        *dropCounter
	logger       *slog.Logger

	ctx       context.Context // cancels in-flight deliveries on Close
	cancel    context.CancelFunc
	done      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the worker returns
	closeOnce sync.Once
	closed    atomic.Bool

	// Worker-only state.
	sawLimits bool // Sentry has sent rate limits at least once
	failing   bool // the last delivery failed (for state-change logging)
}

// newQueueTransport returns a transport that sends to dsn, or, when dsn is
// empty, one that discards every event.
func newQueueTransport(dsn string, size int, timeout time.Duration, drops *dropCounter, logger *slog.Logger) *queueTransport {
	q := &queueTransport{
		enabled: dsn != "",
		drops:   drops,
		logger:  logger,
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	if !q.enabled {
		close(q.stopped)
		return q
	}
	q.errors = make(chan *sentry.Event, size)
	q.transactions = make(chan *sentry.Event, size)
	q.flushes = make(chan chan struct{})
	q.base = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	q.obs = &observer{base: q.base}
	q.inner = sentry.NewHTTPSyncTransport()
	q.inner.Timeout = timeout
	q.inner.Configure(sentry.ClientOptions{Dsn: dsn, HTTPTransport: q.obs})
	go q.work()
	return q
}

// Configure is called by sentry.NewClient. The transport is configured by
// its constructor already, from the tracker's own DSN (never from the
// SENTRY_DSN environment variable the SDK would fall back to).
func (q *queueTransport) Configure(sentry.ClientOptions) {}

// SendEvent queues ev for delivery, or drops and counts it when the queue
// is full. It never blocks.
func (q *queueTransport) SendEvent(ev *sentry.Event) {
	if !q.enabled {
		return
	}
	if q.closed.Load() {
		q.drops.inc(DropShutdown)
		return
	}
	// Serialise the mutable parts now, on the capturing goroutine, so the
	// worker never reads maps someone else may still hold.
	ev.MakeSerializationSafe()
	queue := q.errors
	if ev.Type == transactionType {
		queue = q.transactions
	}
	select {
	case queue <- ev:
	default:
		q.drops.inc(DropQueueFull)
	}
}

// transactionType is the sentry.Event Type of a transaction; errors and
// messages have none.
const transactionType = "transaction"

// Flush waits until every event queued before the call is delivered (or
// counted as dropped), for at most timeout.
func (q *queueTransport) Flush(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return q.FlushWithContext(ctx)
}

// FlushWithContext is Flush bounded by ctx.
func (q *queueTransport) FlushWithContext(ctx context.Context) bool {
	if !q.enabled {
		return true
	}
	marker := make(chan struct{})
	select {
	case q.flushes <- marker:
	case <-ctx.Done():
		return false
	case <-q.done:
		return false
	}
	select {
	case <-marker:
		return true
	case <-ctx.Done():
		return false
	case <-q.stopped:
		return false
	}
}

// Close stops the worker, cancelling a delivery in progress. Events still
// queued are dropped (and counted): Flush first.
func (q *queueTransport) Close() {
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		close(q.done)
		q.cancel()
		<-q.stopped
		for _, queue := range []chan *sentry.Event{q.errors, q.transactions} {
			for range len(queue) {
				<-queue
				q.drops.inc(DropShutdown)
			}
		}
		if q.base != nil {
			q.base.CloseIdleConnections()
		}
	})
}

// work delivers queued events one at a time until Close, errors before
// transactions.
func (q *queueTransport) work() {
	defer close(q.stopped)
	for {
		select {
		case <-q.done:
			return
		case ev := <-q.errors:
			q.deliver(ev)
			continue
		default:
		}
		select {
		case <-q.done:
			return
		case ev := <-q.errors:
			q.deliver(ev)
		case ev := <-q.transactions:
			q.deliver(ev)
		case marker := <-q.flushes:
			q.drain(marker)
		}
	}
}

// drain delivers what both queues hold at the time of a flush, errors
// first, then closes marker. Events queued after the flush began are left
// for the main loop, so a steady stream cannot hold a flush forever.
func (q *queueTransport) drain(marker chan struct{}) {
	defer close(marker)
	for _, queue := range []chan *sentry.Event{q.errors, q.transactions} {
		for range len(queue) {
			select {
			case <-q.done:
				return
			case ev := <-queue:
				q.deliver(ev)
			}
		}
	}
}

// deliver sends one event and counts it if it did not arrive. A panic in
// the SDK is recovered and counted; it is logged, not reported to Sentry,
// since the report would take the same road.
func (q *queueTransport) deliver(ev *sentry.Event) {
	defer func() {
		if v := recover(); v != nil {
			q.drops.inc(DropInternalError)
			q.logger.Error("error tracking: panic while delivering an event", slog.String("panic", fmt.Sprint(v)))
		}
	}()
	q.obs.reset()
	q.inner.SendEventWithContext(q.ctx, ev)
	reason := q.outcome()
	if reason != "" {
		q.drops.inc(reason)
	}
	switch {
	case reason != "" && !q.failing:
		q.failing = true
		q.logger.Warn("error tracking: events are not reaching Sentry", slog.String("reason", reason))
	case reason == "" && q.failing:
		q.failing = false
		q.logger.Info("error tracking: events reach Sentry again")
	}
}

// outcome classifies the delivery that just ended; "" means delivered.
func (q *queueTransport) outcome() string {
	o := q.obs
	if o.limited.Load() {
		q.sawLimits = true
	}
	switch {
	case !o.attempted.Load():
		// The SDK sent nothing: it is backing off after rate limits, or
		// could not encode the event.
		if q.sawLimits {
			return DropRateLimited
		}
		return DropInternalError
	case o.failed.Load():
		return DropNetworkError
	}
	switch s := o.status.Load(); {
	case s == http.StatusTooManyRequests:
		return DropRateLimited
	case s < 200 || s > 299:
		return DropSendError
	}
	return ""
}

// observer is an http.RoundTripper that remembers what happened to the last
// request: whether one was made, whether it failed, its status, and whether
// Sentry sent rate limits. Only the worker uses it, one request at a time.
type observer struct {
	base      http.RoundTripper
	attempted atomic.Bool
	failed    atomic.Bool
	limited   atomic.Bool
	status    atomic.Int32
}

func (o *observer) reset() {
	o.attempted.Store(false)
	o.failed.Store(false)
	o.limited.Store(false)
	o.status.Store(0)
}

// RoundTrip implements http.RoundTripper.
func (o *observer) RoundTrip(r *http.Request) (*http.Response, error) {
	o.attempted.Store(true)
	resp, err := o.base.RoundTrip(r)
	if err != nil {
		o.failed.Store(true)
		return nil, err
	}
	o.status.Store(int32(resp.StatusCode))
	if resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("X-Sentry-Rate-Limits") != "" {
		o.limited.Store(true)
	}
	return resp, nil
}
