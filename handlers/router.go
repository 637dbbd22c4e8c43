// Package handlers is the HTTP layer: the gin router, one file per
// resource, request decoding with limits, and the mapping of domain errors
// to problem+json. Handlers do HTTP and nothing else: every rule lives in
// the domain, every query behind the domain's interfaces.
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/internal/httpx"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/problem"
	"github.com/ordersvc/ordersvc/tracing"
)

// Pinger checks that a dependency answers; /readyz uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is everything the router needs. Nil services are not allowed,
// except where noted.
type Deps struct {
	Orders    ordersvc.OrderService
	Inventory ordersvc.InventoryService
	Reports   ordersvc.ReportService
	Alerts    ordersvc.AlertService
	// AlertForwarder receives new firing critical alerts; nil forwards nothing.
	AlertForwarder AlertForwarder
	// Heartbeat records Watchdog heartbeats (the dead man's switch); nil
	// records none.
	Heartbeat HeartbeatRecorder
	// Heartbeats reads the switch's state for GET /alerts/heartbeat;
	// HeartbeatTimeout is HEARTBEAT_TIMEOUT (0 = the switch is off).
	Heartbeats       ordersvc.HeartbeatService
	HeartbeatTimeout time.Duration
	DB               Pinger
	Metrics          *metrics.Metrics
	Tracker          *errortracking.Tracker
	Faults           *faults.Injector
	// Tracing serves requests in spans; nil is off.
	Tracing *tracing.Provider
	Logger  *slog.Logger
	// Draining, when set and true, makes /readyz answer 503 so load
	// balancers stop sending traffic while the server shuts down.
	Draining *atomic.Bool
	// AdminToken enables the admin routes; empty disables them (404).
	AdminToken string
	// WebhookToken enables the Alertmanager webhook; empty disables it
	// (503, so that Alertmanager keeps retrying until it is configured).
	WebhookToken string
}

// FaultableRoutes returns the business route templates fault injection may
// touch; metrics, health, admin and webhook routes never are. It returns a
// new slice on every call, so no caller can change the set for another.
func FaultableRoutes() []string {
	return []string{"/orders", "/orders/:id", "/inventory", "/reports/summary"}
}

// StackOptions are the parts of the middleware stack.
type StackOptions struct {
	Logger  *slog.Logger
	Metrics *metrics.HTTPMetrics
	Tracker *errortracking.Tracker
	Faults  *faults.Injector
	// Tracing serves each request in a server span; nil or disabled adds
	// no middleware at all.
	Tracing *tracing.Provider
}

// Middleware returns the production middleware stack, outermost first:
// request id, the tracing server span (when tracing is on: the access log,
// the metrics' exemplars and error tracking read the span from the
// context), access log, RED metrics (which must see the status the client
// got, so it wraps recovery), panic recovery and error reporting, fault
// injection. The server and the benchmarks both build it here.
func Middleware(o StackOptions) []gin.HandlerFunc {
	stack := []gin.HandlerFunc{requestID()}
	if o.Tracing.Enabled() {
		stack = append(stack, o.Tracing.Middleware())
	}
	return append(stack,
		accessLog(o.Logger),
		o.Metrics.Middleware(),
		o.Tracker.Middleware(),
		o.Faults.Middleware(FaultableRoutes()),
	)
}

// route is one entry of the route table.
type route struct {
	method, path string
	// statuses are pre-initialised in http_requests_total: the success
	// status and 500, so that increase() sees the first error.
	statuses []int
	handlers []gin.HandlerFunc
}

// NewRouter builds the gin engine with every route of the API. It leaves
// gin's process-wide mode alone: that is the main package's to set.
func NewRouter(d Deps) *gin.Engine {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Faults == nil {
		d.Faults = &faults.Injector{}
	}
	e := gin.New()
	// Strict routing: no redirects that would hide client mistakes, and a
	// real 405 for a known path with the wrong method.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(Middleware(StackOptions{Logger: d.Logger, Metrics: d.Metrics.HTTP, Tracker: d.Tracker, Faults: d.Faults, Tracing: d.Tracing})...)
	e.NoRoute(func(c *gin.Context) {
		problem.Write(c.Writer, c.Request, problem.New(http.StatusNotFound, problem.SlugNotFound, "no route for this path"))
	})
	e.NoMethod(func(c *gin.Context) {
		problem.Write(c.Writer, c.Request, problem.New(http.StatusMethodNotAllowed, problem.SlugMethodNotAllowed, "this path does not support the method"))
	})

	h := &api{Deps: d}
	admin := bearerAuth(d.AdminToken, "admin API", "ADMIN_TOKEN", http.StatusNotFound)
	webhook := bearerAuth(d.WebhookToken, "Alertmanager webhook", "ALERT_WEBHOOK_TOKEN", http.StatusServiceUnavailable)
	routes := []route{
		{"POST", "/orders", []int{201, 500}, []gin.HandlerFunc{h.createOrder}},
		{"GET", "/orders/:id", []int{200, 500}, []gin.HandlerFunc{h.getOrder}},
		{"GET", "/inventory", []int{200, 500}, []gin.HandlerFunc{h.listInventory}},
		{"PUT", "/inventory/:product_id", []int{200, 500}, []gin.HandlerFunc{admin, h.putProduct}},
		{"GET", "/reports/summary", []int{200, 500}, []gin.HandlerFunc{h.summary}},
		{"PUT", "/admin/faults", []int{200, 500}, []gin.HandlerFunc{admin, h.putFaults}},
		{"GET", "/admin/faults", []int{200, 500}, []gin.HandlerFunc{admin, h.getFaults}},
		{"POST", "/webhooks/alertmanager", []int{200, 500, 503}, []gin.HandlerFunc{webhook, h.receiveAlerts}},
		{"GET", "/alerts", []int{200, 500}, []gin.HandlerFunc{admin, h.listAlerts}},
		{"GET", "/alerts/heartbeat", []int{200, 500}, []gin.HandlerFunc{admin, h.heartbeat}},
		{"GET", "/metrics", nil, []gin.HandlerFunc{gin.WrapH(d.Metrics.Handler(promLogger{d.Logger}))}},
		{"GET", "/healthz", nil, []gin.HandlerFunc{h.healthz}},
		{"HEAD", "/healthz", nil, []gin.HandlerFunc{h.healthz}}, // probes often use HEAD
		{"GET", "/readyz", nil, []gin.HandlerFunc{h.readyz}},
		{"HEAD", "/readyz", nil, []gin.HandlerFunc{h.readyz}},
		// The API description (api/openapi.yaml), unmetered like /metrics.
		{"GET", httpx.RouteOpenAPIYAML, nil, []gin.HandlerFunc{openAPIYAML}},
		{"GET", httpx.RouteOpenAPIJSON, nil, []gin.HandlerFunc{h.openAPIJSON()}},
	}
	for _, r := range routes {
		e.Handle(r.method, r.path, r.handlers...)
		d.Metrics.InitEndpoint(r.method, r.path, r.statuses...)
	}
	return e
}

// api carries the dependencies into the handler methods.
type api struct {
	Deps
}

// fail answers with the problem for err. Server-side failures (5xx) are
// attached to the context, where error tracking finds them, and logged
// with their cause; client errors are not.
func (h *api) fail(c *gin.Context, err error) {
	p := problem.FromError(err)
	if p.Status >= 500 {
		_ = c.Error(err)
		h.Logger.LogAttrs(c.Request.Context(), slog.LevelError, "request failed",
			slog.String("request_id", httpx.RequestID(c.Request.Context())),
			slog.String("endpoint", c.FullPath()),
			slog.String("error", err.Error()))
	}
	abortWith(c, p)
}

// abortWith stops the chain and answers with p.
func abortWith(c *gin.Context, p problem.Details) {
	c.Abort()
	problem.Write(c.Writer, c.Request, p)
}

// promLogger adapts slog to promhttp's error log.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.l.Warn("metrics exposition", slog.String("error", fmt.Sprint(v...)))
}
