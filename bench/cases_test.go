package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/getsentry/sentry-go"
	sentrygin "github.com/getsentry/sentry-go/gin"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	httpmetrics "github.com/slok/go-http-metrics/metrics/prometheus"
	httpmiddleware "github.com/slok/go-http-metrics/middleware"
	slokgin "github.com/slok/go-http-metrics/middleware/gin"
	ginprometheus "github.com/zsais/go-gin-prometheus"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/tracing"
)

// route is the route template every case serves, and target the path
// requested.
const (
	route  = "/orders/:id"
	target = "/orders/42"
)

// orderBody is the small JSON document the handler answers with.
var orderBody = []byte(`{"id":"42","status":"created","total":"12.50"}`)

// jsonContentType is shared by every response, so the handler allocates
// nothing and the baseline is gin itself.
var jsonContentType = []string{"application/json; charset=utf-8"}

// getOrder is the trivial handler behind the route in every case: a 200
// with a fixed JSON body, written without allocating.
func getOrder(c *gin.Context) {
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Writer.WriteHeader(http.StatusOK)
	_, _ = c.Writer.Write(orderBody)
}

// benchCase is one middleware stack in front of getOrder.
type benchCase struct {
	name    string
	handler http.Handler
	// registry holds the case's metrics; nil for a case that exports none.
	registry *prometheus.Registry
	// requests names the family in registry that counts requests (a
	// counter, or a histogram whose sample count is used).
	requests string
	// cleanup, when set, releases what the case holds and restores any
	// process-wide state building it changed.
	cleanup func()
}

// caseNames lists the cases in the order they are reported.
var caseNames = []string{"bare", "ordersvc", "ordersvc-traced", "zsais", "slok", "promhttp", "sentrygin", "otelgin"}

// newEngine returns the gin engine every case starts from.
func newEngine() *gin.Engine {
	return gin.New()
}

// newCase builds the named case.
func newCase(name string) (benchCase, error) {
	switch name {
	case "bare":
		e := newEngine()
		e.GET(route, getOrder)
		return benchCase{name: name, handler: e}, nil
	case "ordersvc":
		// The access log's handler discards, and reports every level
		// disabled: the access log then costs one Enabled call, as in
		// production at level warn. What a log line costs depends on
		// the handler and sink, and no peer logs, so it is measured apart
		// (BenchmarkAccessLog).
		return newOrdersvc(name, slog.New(slog.DiscardHandler))
	case "ordersvc-traced":
		// The same stack with tracing on: every request sampled (always_on),
		// spans exported to a discarding exporter, exemplars recorded.
		return newOrdersvcWith(name, slog.New(slog.DiscardHandler),
			map[string]string{"OTEL_TRACES_SAMPLER": config.SamplerAlwaysOn}, tracetest.NewNoopExporter())
	case "otelgin":
		return newOtelgin(name)
	case "zsais":
		return newZsais(name)
	case "slok":
		reg := prometheus.NewRegistry()
		m := httpmiddleware.New(httpmiddleware.Config{
			Recorder: httpmetrics.NewRecorder(httpmetrics.Config{Registry: reg}),
		})
		e := newEngine()
		// An empty handler id makes slok label by route template.
		e.Use(slokgin.Handler("", m))
		e.GET(route, getOrder)
		return benchCase{name: name, handler: e, registry: reg, requests: "http_request_duration_seconds"}, nil
	case "promhttp":
		return newPromhttp(name)
	case "sentrygin":
		return newSentrygin(name)
	}
	return benchCase{}, fmt.Errorf("unknown case %q", name)
}

// newOrdersvc builds the service as the server does (internal/app, on a
// temporary SQLite file, with Sentry, tracing and fault injection off) and
// puts its production middleware stack in front of the case's handler.
func newOrdersvc(name string, logger *slog.Logger) (benchCase, error) {
	return newOrdersvcWith(name, logger, nil, nil)
}

// newOrdersvcWith is newOrdersvc with configuration variables and, when
// exporter is set, tracing on, exporting there.
func newOrdersvcWith(name string, logger *slog.Logger, vars map[string]string, exporter sdktrace.SpanExporter) (benchCase, error) {
	dir, err := os.MkdirTemp("", "ordersvc-bench-")
	if err != nil {
		return benchCase{}, err
	}
	env := map[string]string{"DATABASE_URL": "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bench.db"))}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, "bench")
	if err != nil {
		_ = os.RemoveAll(dir)
		return benchCase{}, err
	}
	reg := prometheus.NewRegistry()
	a, err := app.New(context.Background(), cfg, app.Options{Logger: logger, Registry: reg, NoSeed: true, SpanExporter: exporter})
	if err != nil {
		_ = os.RemoveAll(dir)
		return benchCase{}, err
	}
	e := newEngine()
	e.Use(a.Middleware()...)
	e.GET(route, getOrder)
	// As handlers.NewRouter does for every route.
	a.Metrics.InitEndpoint(http.MethodGet, route, http.StatusOK, http.StatusInternalServerError)
	return benchCase{name: name, handler: e, registry: reg, requests: "http_requests_total", cleanup: func() {
		_ = a.Close()
		_ = os.RemoveAll(dir)
	}}, nil
}

// newOtelgin is the tracing peer: go.opentelemetry.io/contrib's otelgin with
// the same tracer provider as ordersvc-traced (every request sampled, a
// discarding exporter), plus the cheapest metrics peer (zsais), so that it
// does at least what ordersvc-traced does for tracing and RED metrics.
func newOtelgin(name string) (benchCase, error) {
	tp, err := tracing.New(context.Background(), config.Config{TracesSampler: config.SamplerAlwaysOn, TracesSamplerArg: 1},
		tracing.Options{Exporter: tracetest.NewNoopExporter()})
	if err != nil {
		return benchCase{}, err
	}
	metricsMW, reg := zsaisMiddleware()
	e := newEngine()
	e.Use(otelgin.Middleware("ordersvc", otelgin.WithTracerProvider(tp.TracerProvider()), otelgin.WithPropagators(tp.Propagator())), metricsMW)
	e.GET(route, getOrder)
	return benchCase{name: name, handler: e, registry: reg, requests: "gin_requests_total",
		cleanup: func() { _ = tp.Shutdown(context.Background()) }}, nil
}

// newZsais builds go-gin-prometheus. It registers its metrics with
// prometheus.Register, that is on prometheus.DefaultRegisterer, and has no
// option for another registry; so DefaultRegisterer points at a fresh
// registry while it is built, and the global default registry is never
// touched.
func newZsais(name string) (benchCase, error) {
	mw, reg := zsaisMiddleware()
	e := newEngine()
	e.Use(mw)
	e.GET(route, getOrder)
	return benchCase{name: name, handler: e, registry: reg, requests: "gin_requests_total"}, nil
}

// zsaisMiddleware returns go-gin-prometheus's middleware and the registry
// its metrics are on. HandlerFunc, not p.Use: Use also mounts a /metrics
// route.
func zsaisMiddleware() (gin.HandlerFunc, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	prev := prometheus.DefaultRegisterer
	prometheus.DefaultRegisterer = reg
	p := ginprometheus.NewPrometheus("gin")
	prometheus.DefaultRegisterer = prev
	return p.HandlerFunc(), reg
}

// newPromhttp wraps the engine in client_golang's in-flight, duration and
// counter instrumentation. Outside the engine it cannot see the route
// template, so its series are by method and code only.
func newPromhttp(name string) (benchCase, error) {
	reg := prometheus.NewRegistry()
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "http_requests_in_flight", Help: "HTTP requests being served now.",
	})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "HTTP request latency.", Buckets: metrics.DurationBuckets(),
	}, []string{"code", "method"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests served.",
	}, []string{"code", "method"})
	for _, c := range []prometheus.Collector{inFlight, duration, requests} {
		if err := reg.Register(c); err != nil {
			return benchCase{}, err
		}
	}
	e := newEngine()
	e.GET(route, getOrder)
	h := promhttp.InstrumentHandlerInFlight(inFlight,
		promhttp.InstrumentHandlerDuration(duration,
			promhttp.InstrumentHandlerCounter(requests, e)))
	return benchCase{name: name, handler: h, registry: reg, requests: "http_requests_total"}, nil
}

// newSentrygin sets up sentry-go/gin as its documentation does: a client
// bound to the current hub (what sentry.Init does; the DSN is empty, so
// nothing is sent and tracing is off), gin.Recovery, then sentrygin with
// Repanic. sentrygin clones the current hub per request and has no option
// for another, so the client is bound to the global hub only for the
// case's life and the previous client is restored by cleanup.
func newSentrygin(name string) (benchCase, error) {
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: ""})
	if err != nil {
		return benchCase{}, err
	}
	hub := sentry.CurrentHub()
	prev := hub.Client()
	hub.BindClient(client)
	e := newEngine()
	e.Use(gin.Recovery(), sentrygin.New(sentrygin.Options{Repanic: true}))
	e.GET(route, getOrder)
	return benchCase{name: name, handler: e, cleanup: func() {
		hub.BindClient(prev)
		client.Close()
	}}, nil
}

// newRequest returns the request every iteration serves; the handlers do
// not modify it, so it is reused.
func newRequest() *http.Request {
	return httptest.NewRequest(http.MethodGet, target, nil)
}

// sinkWriter is a ResponseWriter that keeps the status and counts the body,
// so an iteration measures the middleware and not I/O.
type sinkWriter struct {
	header  http.Header
	status  int
	written int
}

func newSinkWriter() *sinkWriter {
	return &sinkWriter{header: make(http.Header, 4)}
}

// Header implements http.ResponseWriter.
func (w *sinkWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter.
func (w *sinkWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// Write implements http.ResponseWriter.
func (w *sinkWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.written += len(p)
	return len(p), nil
}

// reset readies w for the next request without allocating: clear keeps the
// header map's storage.
func (w *sinkWriter) reset() {
	clear(w.header)
	w.status = 0
	w.written = 0
}
