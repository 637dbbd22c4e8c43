package errortracking_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/problem"
)

// Secrets the tests plant everywhere and look for in every received byte.
// The webhook token holds characters encoding/json escapes.
const (
	adminToken   = "adm-8f1e2d3c4b5a69788796a5b4"
	webhookToken = "whk<3a>&c4d5e6f708192a3b4c"
	bodyMarker   = "BODY-MARKER-e5f6a7b8"
)

var errDB = errors.New("database is locked")

// harness is the production middleware stack (handlers.Middleware) with a
// real Tracker sending to a local Sentry sink, real metrics on their own
// registry, and test routes behind it.
type harness struct {
	t       *testing.T
	sink    *sentrytest.Sink
	tracker *errortracking.Tracker
	reg     *prometheus.Registry
	engine  *gin.Engine
}

// newHarness builds the stack. opts.DSN defaults to a healthy sink's DSN;
// Logger, Panics and Registerer are filled in.
func newHarness(t *testing.T, opts errortracking.Options) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry()}
	if opts.DSN == "" {
		h.sink = sentrytest.New(t, sentrytest.Options{})
		opts.DSN = h.sink.DSN()
	}
	m, err := metrics.New(h.reg, h.reg, metrics.BuildInfo{Version: "test", Revision: "test", GoVersion: "test"})
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	opts.Logger, opts.Panics, opts.Registerer, opts.RequestTags = logger, m, h.reg, handlers.ErrorTags
	h.tracker, err = errortracking.New(opts)
	if err != nil {
		t.Fatalf("errortracking.New: %v", err)
	}
	t.Cleanup(h.tracker.Close)

	gin.SetMode(gin.ReleaseMode) // quiet: no route listing on stdout
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(handlers.Middleware(handlers.StackOptions{Logger: logger, Metrics: m.HTTP, Tracker: h.tracker, Faults: &faults.Injector{}})...)
	e.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/nowhere-panic") {
			panic("no route and a panic")
		}
		problem.Write(c.Writer, c.Request, problem.New(http.StatusNotFound, "not-found", "no route"))
	})
	routes := []struct {
		method, path string
		handler      gin.HandlerFunc
	}{
		{"GET", "/orders/:id", orderHandler},
		{"POST", "/orders", createOrderHandler},
		{"GET", "/panic-error", panicErrorHandler},
		{"GET", "/status/:code", statusHandler},
		{"GET", "/ok", okHandler},
		{"GET", "/secret", secretHandler},
		{"POST", "/secret-panic", secretPanicHandler},
	}
	for _, r := range routes {
		e.Handle(r.method, r.path, r.handler)
		m.InitEndpoint(r.method, r.path, 200, 500)
	}
	h.engine = e
	return h
}

// orderHandler panics for ids starting with "panic", fails with a wrapped
// server error for "fail…", and answers 200 otherwise.
func orderHandler(c *gin.Context) {
	id := c.Param("id")
	switch {
	case strings.HasPrefix(id, "panic"):
		panic("boom " + id)
	case strings.HasPrefix(id, "fail"):
		_ = c.Error(fmt.Errorf("load order %s: %w", id, errDB))
		problem.Write(c.Writer, c.Request, problem.New(http.StatusInternalServerError, "internal", "an unexpected error occurred"))
	default:
		c.JSON(http.StatusOK, gin.H{"id": id})
	}
}

// createOrderHandler learns an order id, then fails.
func createOrderHandler(c *gin.Context) {
	handlers.SetOrderID(c, "ord_0123456789abcdef")
	_ = c.Error(fmt.Errorf("commit order: %w", errDB))
	problem.Write(c.Writer, c.Request, problem.New(http.StatusInternalServerError, "internal", "an unexpected error occurred"))
}

func panicErrorHandler(*gin.Context) {
	panic(fmt.Errorf("wrapped: %w", errDB))
}

// statusHandler answers /status/<code>; ?attach=1 attaches an error.
func statusHandler(c *gin.Context) {
	code, err := strconv.Atoi(c.Param("code"))
	if err != nil || code < 200 || code > 599 {
		code = http.StatusBadRequest
	}
	if c.Query("attach") == "1" {
		_ = c.Error(fmt.Errorf("status %d: %w", code, errDB))
	}
	problem.Write(c.Writer, c.Request, problem.New(code, "test", "test status"))
}

func okHandler(c *gin.Context) { c.String(http.StatusOK, "ok") }

// secretHandler reads the body, puts a secret on its span and fails with an
// error that quotes secrets.
func secretHandler(c *gin.Context) {
	body, _ := io.ReadAll(io.LimitReader(c.Request.Body, 1<<10))
	if span := sentry.SpanFromContext(c.Request.Context()); span != nil {
		span.SetData("token", adminToken)
		span.SetTag("webhook", webhookToken)
		span.Description = "query with " + adminToken
	}
	_ = c.Error(fmt.Errorf("connect with %s and %s (body %d bytes): %w", adminToken, c.Query("dsn"), len(body), errDB))
	problem.Write(c.Writer, c.Request, problem.New(http.StatusInternalServerError, "internal", "an unexpected error occurred"))
}

func secretPanicHandler(c *gin.Context) {
	_, _ = io.ReadAll(io.LimitReader(c.Request.Body, 1<<10))
	panic("leaked " + adminToken + " " + webhookToken + " " + c.Query("dsn"))
}

// do serves one request through the stack.
func (h *harness) do(method, target string, header map[string]string, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.engine.ServeHTTP(rec, req)
	return rec
}

// flush delivers everything captured so far, or fails the test.
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !h.tracker.Flush(ctx) {
		h.t.Fatal("Flush did not finish within 10s")
	}
}

// events returns the error events the sink received.
func (h *harness) events() []sentrytest.Event {
	h.t.Helper()
	evs, err := h.sink.Events("event")
	if err != nil {
		h.t.Fatal(err)
	}
	if errs := h.sink.Errors(); len(errs) > 0 {
		h.t.Fatalf("the sink saw protocol errors: %v", errs)
	}
	return evs
}

// metric returns the value of the series name{labels} on the harness's
// registry, or -1 when there is no such series.
func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	return metricValue(h.t, h.reg, name, labels)
}

func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// drops returns sentry_events_dropped_total by reason.
func (h *harness) drops() map[string]float64 {
	h.t.Helper()
	out := map[string]float64{}
	for _, r := range []string{errortracking.DropQueueFull, errortracking.DropRateLimited, errortracking.DropNetworkError,
		errortracking.DropSendError, errortracking.DropInternalError, errortracking.DropScrubFailed, errortracking.DropShutdown} {
		v := h.metric("sentry_events_dropped_total", map[string]string{"reason": r})
		if v < 0 {
			h.t.Fatalf("sentry_events_dropped_total{reason=%q} is not on the registry", r)
		}
		out[r] = v
	}
	return out
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}
