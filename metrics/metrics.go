// Package metrics owns the service's Prometheus metrics: one injected
// registry (no global state), the RED middleware, the business counters,
// database query timing, and the inventory collector that reads stock from
// the database at scrape time.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordersvc/ordersvc"
)

// DurationBuckets returns the buckets of http_request_duration_seconds,
// fixed by the spec so that rules and dashboards can rely on them. Each call
// returns a fresh slice, so a caller cannot change them for anyone else.
func DurationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// dbBuckets span the sub-millisecond reads of an embedded database up to
// the busy timeout.
var dbBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// dbOperations are the (operation, table) pairs the store reports,
// pre-initialised so that the first query of each kind is visible to rate().
var dbOperations = [][2]string{
	{"select", "products"}, {"update", "products"}, {"upsert", "products"},
	{"select", "orders"}, {"insert", "orders"}, {"select", "order_totals"}, {"upsert", "order_totals"},
	{"select", "alerts"}, {"insert", "alerts"}, {"update", "alerts"}, {"delete", "alerts"}, {"insert", "alert_deliveries"},
}

// Metrics holds every metric the service exports.
type Metrics struct {
	HTTP *HTTPMetrics

	gatherer       prometheus.Gatherer
	ordersCreated  *prometheus.CounterVec
	orderRevenue   *revenueCounter
	ordersRejected *prometheus.CounterVec
	panics         *prometheus.CounterVec
	dbQueries      *prometheus.HistogramVec
	alertsReceived *prometheus.CounterVec
	alertNames     alertLabels
}

// BuildInfo labels app_build_info.
type BuildInfo struct {
	Version, Revision, GoVersion string
}

// ReadBuildInfo returns the binary's version and VCS revision from the
// build information the Go toolchain embeds ("unknown" when absent).
// Linker-set values, when non-empty, win.
func ReadBuildInfo(version, revision string) BuildInfo {
	b := BuildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && b.Revision == "" {
				b.Revision = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// New creates the metrics and registers them, with the Go and process
// collectors, on reg. gatherer serves /metrics (usually the same registry).
func New(reg prometheus.Registerer, gatherer prometheus.Gatherer, build BuildInfo) (*Metrics, error) {
	m := &Metrics{
		HTTP:           newHTTPMetrics(),
		alertsReceived: newAlertsReceived(),
		alertNames:     alertLabels{names: map[string]struct{}{}},
		gatherer:       gatherer,
		ordersCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_created_total", Help: "Orders created, by order type.",
		}, []string{"type"}),
		orderRevenue: newRevenueCounter(),
		ordersRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_rejected_total", Help: "Order requests refused, by reason (" + joinReasons(ordersvc.RejectReasons()) + ").",
		}, []string{"reason"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panics_recovered_total", Help: "Panics recovered in HTTP handlers, by route template.",
		}, []string{"endpoint"}),
		dbQueries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "db_query_duration_seconds", Help: "Duration of database queries, by operation and table.", Buckets: dbBuckets,
		}, []string{"operation", "table"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "app_build_info", Help: "Build information of the running binary; always 1.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion},
	})
	buildInfo.Set(1)

	for _, c := range []prometheus.Collector{
		m.HTTP.requests, m.HTTP.duration, m.HTTP.inFlight,
		m.ordersCreated, m.orderRevenue, m.ordersRejected, m.panics, m.dbQueries, m.alertsReceived, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	for _, t := range ordersvc.OrderTypes() {
		m.ordersCreated.WithLabelValues(string(t))
	}
	for _, r := range ordersvc.RejectReasons() {
		m.ordersRejected.WithLabelValues(string(r))
	}
	for _, op := range dbOperations {
		m.dbQueries.WithLabelValues(op[0], op[1])
	}
	m.panics.WithLabelValues(Unmatched)
	return m, nil
}

// joinReasons lists reasons for a help text: "a, b, c".
func joinReasons(reasons []ordersvc.RejectReason) string {
	s := make([]string, len(reasons))
	for i, r := range reasons {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Handler serves the registry in the text or OpenMetrics format
// (negotiated), gzip-compressed when the scraper accepts it. A collector
// that fails (say, the database is down) drops its own series only.
func (m *Metrics) Handler(errorLog promhttp.Logger) http.Handler {
	return HandlerFor(m.gatherer, errorLog)
}

// HandlerFor serves gatherer exactly as Metrics.Handler serves the
// service's registry; the scrape benchmark serves its client_golang-only
// registry through it, so that the two differ only in what they gather.
func HandlerFor(gatherer prometheus.Gatherer, errorLog promhttp.Logger) http.Handler {
	return promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          errorLog,
		Timeout:           10 * time.Second,
	})
}

// OrderCreated counts a new order and its revenue. Idempotent replays must
// not call it.
func (m *Metrics) OrderCreated(t ordersvc.OrderType, amount ordersvc.Money) {
	m.ordersCreated.WithLabelValues(string(t)).Inc()
	m.orderRevenue.add(t, amount)
}

// OrderRejected counts a refused order request. A reason outside
// ordersvc.RejectReasons() (including "", no rejection) is not counted, so
// the label stays a closed set.
func (m *Metrics) OrderRejected(reason ordersvc.RejectReason) {
	if !reason.Valid() {
		return
	}
	m.ordersRejected.WithLabelValues(string(reason)).Inc()
}

// PanicRecovered counts a recovered panic on a route template.
func (m *Metrics) PanicRecovered(endpoint string) {
	if endpoint == "" {
		endpoint = Unmatched
	}
	m.panics.WithLabelValues(endpoint).Inc()
}

// InitEndpoint pre-initialises the per-endpoint series of a route so that
// increase() sees the first event: its duration histogram, the given status
// codes, and its panic counter.
func (m *Metrics) InitEndpoint(method, endpoint string, statuses ...int) {
	m.HTTP.initRoute(method, endpoint, statuses)
	if !m.HTTP.skipped(endpoint) {
		m.panics.WithLabelValues(endpoint)
	}
}

// ObserveQuery records one database query's duration. It implements
// tracing.QueryObserver, which both stores time their queries into.
func (m *Metrics) ObserveQuery(operation, table string, d time.Duration) {
	m.dbQueries.WithLabelValues(operation, table).Observe(d.Seconds())
}

// errNoGatherer is returned when Metrics was built without a gatherer.
var errNoGatherer = errors.New("metrics: no gatherer")

// Gather returns the current metric families, for tests and diagnostics.
func (m *Metrics) Gather() (map[string]float64, error) {
	if m.gatherer == nil {
		return nil, errNoGatherer
	}
	families, err := m.gatherer.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			key := f.GetName()
			for _, l := range metric.GetLabel() {
				key += "|" + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case metric.Counter != nil:
				out[key] = metric.GetCounter().GetValue()
			case metric.Gauge != nil:
				out[key] = metric.GetGauge().GetValue()
			case metric.Histogram != nil:
				out[key] = float64(metric.GetHistogram().GetSampleCount())
			default:
				out[key] = 0
			}
		}
	}
	return out, nil
}

// statusLabel formats a status code; the common ones come from a table.
func statusLabel(code int) string {
	if code >= 100 && code < 600 {
		return statusStrings[code-100]
	}
	return strconv.Itoa(code)
}

var statusStrings = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(i + 100)
	}
	return s
}()
