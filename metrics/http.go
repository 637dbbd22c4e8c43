package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the endpoint label of requests that matched no route (404, 405).
const Unmatched = "unmatched"

// methods is the closed set of the method label; anything else is OTHER.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "OTHER"}

const methodOther = len(methods) - 1

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "CONNECT":
		return 6
	case "OPTIONS":
		return 7
	case "TRACE":
		return 8
	}
	return methodOther
}

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
	skip      map[string]struct{}
}

type endpointMetrics struct {
	name    string
	methods [len(methods)]atomic.Pointer[methodMetrics]
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
		// Scrapes and probes are not traffic: counting them would dilute
		// error ratios and latency percentiles.
		skip: map[string]struct{}{"/metrics": {}, "/healthz": {}, "/readyz": {}},
	}
}

func (h *HTTPMetrics) skipped(endpoint string) bool {
	_, ok := h.skip[endpoint]
	return ok
}

func (h *HTTPMetrics) endpoint(path string) *endpointMetrics {
	if path == "" {
		path = Unmatched
	}
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
	m := &methodMetrics{duration: h.duration.WithLabelValues(methods[idx], e.name)}
	if e.methods[idx].CompareAndSwap(nil, m) {
		return m
	}
	return e.methods[idx].Load()
}

func (h *HTTPMetrics) counter(e *endpointMetrics, mm *methodMetrics, idx, status int) prometheus.Counter {
	if status < 100 || status >= 600 {
		return h.requests.WithLabelValues(methods[idx], e.name, statusLabel(status))
	}
	slot := &mm.statuses[status-100]
	if ref := slot.Load(); ref != nil {
		return ref.c
	}
	ref := &counterRef{c: h.requests.WithLabelValues(methods[idx], e.name, statusLabel(status))}
	slot.CompareAndSwap(nil, ref)
	return slot.Load().c
}

func (h *HTTPMetrics) initRoute(method, endpoint string, statuses []int) {
	if h.skipped(endpoint) {
		return
	}
	e := h.endpoint(endpoint)
	idx := methodIndex(method)
	mm := h.method(e, idx)
	for _, s := range statuses {
		h.counter(e, mm, idx, s)
	}
}

// Middleware records http_requests_total, http_request_duration_seconds and
// http_requests_in_flight. It must run outermost (before panic recovery) so
// that it sees the status the client received; it records in a defer, so
// even a panic that escapes every handler is counted, as a 500.
func (h *HTTPMetrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		path := c.FullPath()
		if _, skip := h.skip[path]; skip {
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
			idx := methodIndex(c.Request.Method)
			mm := h.method(e, idx)
			mm.duration.Observe(time.Since(start).Seconds())
			h.counter(e, mm, idx, status).Inc()
			h.inFlight.Dec()
		}()
		c.Next()
		completed = true
	}
}
