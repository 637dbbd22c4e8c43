package metrics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// Unmatched is the endpoint label of requests that matched no route (404,
// 405): httpx's word, named here for the package's own callers.
const Unmatched = httpx.Unmatched

// HTTPMetrics is the RED middleware's state.
//
// Why not WithLabelValues per request: it hashes the label values and looks
// the child up under a lock on every call. Here each (endpoint, method,
// status) child is resolved once and cached in lock-free tables, so the hot
// path is one sync.Map load and a few atomic loads, with no allocation.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	endpoints sync.Map // route template → *endpointMetrics
	// traceID, when set, names the sampled trace of a request, recorded as
	// a trace_id exemplar (see EnableExemplars).
	traceID func(context.Context) (string, bool)
}

type endpointMetrics struct {
	name    string
	methods [httpx.NumMethods]atomic.Pointer[methodMetrics]
}

type methodMetrics struct {
	duration prometheus.Observer
	statuses [500]atomic.Pointer[counterRef] // index: status code - 100
}

// counterRef boxes an interface so it fits an atomic.Pointer.
type counterRef struct{ c prometheus.Counter }

func newHTTPMetrics() *HTTPMetrics {
	return &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, by method, route template and status code.",
		}, []string{"method", "endpoint", "status_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency, by method and route template.", Buckets: DurationBuckets(),
		}, []string{"method", "endpoint"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being served now.",
		}),
	}
}

// skipped reports whether a route is not counted: scrapes and probes are
// not traffic.
func (h *HTTPMetrics) skipped(endpoint string) bool { return httpx.IsProbe(endpoint) }

func (h *HTTPMetrics) endpoint(path string) *endpointMetrics {
	path = httpx.RouteLabel(path)
	if e, ok := h.endpoints.Load(path); ok {
		return e.(*endpointMetrics)
	}
	e, _ := h.endpoints.LoadOrStore(path, &endpointMetrics{name: path})
	return e.(*endpointMetrics)
}

func (h *HTTPMetrics) method(e *endpointMetrics, idx int) *methodMetrics {
	if m := e.methods[idx].Load(); m != nil {
		return m
	}
	m := &methodMetrics{duration: h.duration.WithLabelValues(httpx.MethodLabel(idx), e.name)}
	if e.methods[idx].CompareAndSwap(nil, m) {
		return m
	}
	return e.methods[idx].Load()
}

func (h *HTTPMetrics) counter(e *endpointMetrics, mm *methodMetrics, idx, status int) prometheus.Counter {
	if status < 100 || status >= 600 {
		return h.requests.WithLabelValues(httpx.MethodLabel(idx), e.name, statusLabel(status))
	}
	slot := &mm.statuses[status-100]
	if ref := slot.Load(); ref != nil {
		return ref.c
	}
	ref := &counterRef{c: h.requests.WithLabelValues(httpx.MethodLabel(idx), e.name, statusLabel(status))}
	slot.CompareAndSwap(nil, ref)
	return slot.Load().c
}

func (h *HTTPMetrics) initRoute(method, endpoint string, statuses []int) {
	if h.skipped(endpoint) {
		return
	}
	e := h.endpoint(endpoint)
	idx := httpx.MethodIndex(method)
	mm := h.method(e, idx)
	for _, s := range statuses {
		h.counter(e, mm, idx, s)
	}
}

// EnableExemplars makes the middleware attach a trace_id exemplar to the
// duration and count of every request traceID names a sampled trace for
// (exposed in the OpenMetrics format). Call it before the middleware is
// built; without it, recording stays allocation-free.
func (h *HTTPMetrics) EnableExemplars(traceID func(context.Context) (string, bool)) {
	h.traceID = traceID
}

// Middleware records http_requests_total, http_request_duration_seconds and
// http_requests_in_flight. It must run outermost (before panic recovery) so
// that it sees the status the client received; it records in a defer, so
// even a panic that escapes every handler is counted, as a 500.
func (h *HTTPMetrics) Middleware() gin.HandlerFunc {
	traceID := h.traceID
	return func(c *gin.Context) {
		path := c.FullPath()
		if httpx.IsProbe(path) {
			c.Next()
			return
		}
		start := time.Now()
		h.inFlight.Inc()
		completed := false
		defer func() {
			status := c.Writer.Status()
			if !completed {
				status = 500
			}
			e := h.endpoint(path)
			idx := httpx.MethodIndex(c.Request.Method)
			mm := h.method(e, idx)
			elapsed := time.Since(start).Seconds()
			counter := h.counter(e, mm, idx, status)
			if traceID != nil {
				if id, ok := traceID(c.Request.Context()); ok {
					exemplar := prometheus.Labels{"trace_id": id}
					mm.duration.(prometheus.ExemplarObserver).ObserveWithExemplar(elapsed, exemplar)
					counter.(prometheus.ExemplarAdder).AddWithExemplar(1, exemplar)
					h.inFlight.Dec()
					return
				}
			}
			mm.duration.Observe(elapsed)
			counter.Inc()
			h.inFlight.Dec()
		}()
		c.Next()
		completed = true
	}
}
