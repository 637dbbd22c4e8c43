package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Transport error causes; a closed set so that the report stays bounded.
const (
	errTimeout = "timeout"
	errRefused = "connection_refused"
	errClosed  = "connection_closed" // reset or closed by the peer
	errOther   = "other"
)

// classifyError maps a transport error to one of the causes above.
func classifyError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errClosed
	default:
		return errOther
	}
}

// statusClass returns 1..5 for 1xx..5xx. Codes above 599 count as 5xx: a
// server sending them is misbehaving.
func statusClass(code int) int {
	return min(max(code/100, 1), 5)
}

// kindStats accumulates the outcomes of one request kind.
type kindStats struct {
	requests  int64
	classes   [6]int64 // [0] transport errors, [1..5] 1xx..5xx
	latencies Histogram
}

// routeKey identifies a RouteCount.
type routeKey struct {
	method, route string
	status        int // 0 for a transport error
}

// stats accumulates the outcomes of a run. It is safe for concurrent use.
// One mutex is enough: recording takes ~100ns, far below the cost of the
// HTTP exchange being recorded.
type stats struct {
	mu        sync.Mutex
	kinds     [numKinds]kindStats
	codes     map[int]int64      // status code → count; codes are 3 digits
	routes    map[routeKey]int64 // bounded: generated methods × routes × codes
	transport map[string]int64   // cause → count; keys from classifyError
	dropped   int64

	// The window since the last progress snapshot.
	winStart    time.Time
	winRequests int64
	winErrors   int64 // 5xx and transport errors
	win4xx      int64
	winLatency  Histogram
}

// newStats returns empty stats whose first window starts at start.
func newStats(start time.Time) *stats {
	return &stats{codes: map[int]int64{}, routes: map[routeKey]int64{}, transport: map[string]int64{}, winStart: start}
}

// record adds the outcome of req: an HTTP status with its latency, or a
// transport error cause (then status and latency are ignored).
func (s *stats) record(req request, status int, cause string, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := &s.kinds[req.kind]
	ks.requests++
	s.winRequests++
	if cause != "" {
		ks.classes[0]++
		s.transport[cause]++
		s.routes[routeKey{req.method, req.route, 0}]++
		s.winErrors++
		return
	}
	s.routes[routeKey{req.method, req.route, status}]++
	c := statusClass(status)
	ks.classes[c]++
	s.codes[status]++
	ks.latencies.Record(latency)
	s.winLatency.Record(latency)
	switch c {
	case 5:
		s.winErrors++
	case 4:
		s.win4xx++
	}
}

// drop counts a request that was due but not sent.
func (s *stats) drop() {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
}

// Progress is what one live progress line shows.
type Progress struct {
	Elapsed  time.Duration // since the run started
	Requests int64         // completed so far
	InFlight int64         // outstanding now
	Dropped  int64         // so far (rate mode)
	// Over the window since the previous line:
	Window         time.Duration
	WindowRequests int64
	WindowErrors   int64 // 5xx + transport errors
	Window4xx      int64
	P50, P99       time.Duration // of the window's responses; 0 if none
}

// Rate returns the window's completed requests per second.
func (p Progress) Rate() float64 {
	if p.Window <= 0 {
		return 0
	}
	return float64(p.WindowRequests) / p.Window.Seconds()
}

// snapshot returns the progress at now and starts a new window.
func (s *stats) snapshot(start, now time.Time, inFlight int64) Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Progress{
		Elapsed:        now.Sub(start),
		InFlight:       inFlight,
		Dropped:        s.dropped,
		Window:         now.Sub(s.winStart),
		WindowRequests: s.winRequests,
		WindowErrors:   s.winErrors,
		Window4xx:      s.win4xx,
		P50:            s.winLatency.Quantile(0.50),
		P99:            s.winLatency.Quantile(0.99),
	}
	for i := range s.kinds {
		p.Requests += s.kinds[i].requests
	}
	s.winStart, s.winRequests, s.winErrors, s.win4xx = now, 0, 0, 0
	s.winLatency.Reset()
	return p
}
