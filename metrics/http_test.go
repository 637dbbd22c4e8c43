package metrics

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, reg, BuildInfo{Version: "v", Revision: "r", GoVersion: "g"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMiddlewareLabels(t *testing.T) {
	m := newTestMetrics(t)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(m.HTTP.Middleware())
	e.GET("/orders/:id", func(c *gin.Context) { c.Status(200) })
	e.GET("/boom", func(c *gin.Context) { c.Status(599) })
	e.GET("/metrics", func(c *gin.Context) { c.Status(200) })
	for _, r := range []struct{ method, path string }{
		{"GET", "/orders/1"}, {"GET", "/orders/2"}, {"GET", "/nope"}, {"BREW", "/nope"}, {"GET", "/boom"}, {"GET", "/metrics"},
	} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
	}
	for _, tt := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"GET", "/orders/:id", "200"}, 2},
		{[]string{"GET", "unmatched", "404"}, 1},
		{[]string{"OTHER", "unmatched", "404"}, 1},
		{[]string{"GET", "/boom", "599"}, 1},
	} {
		if got := testutil.ToFloat64(m.HTTP.requests.WithLabelValues(tt.labels...)); got != tt.want {
			t.Errorf("http_requests_total%v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.HTTP.requests); n != 4 {
		t.Errorf("%d series, want 4 (/metrics is not counted)", n)
	}
	if got := testutil.ToFloat64(m.HTTP.inFlight); got != 0 {
		t.Errorf("in flight = %v", got)
	}
}

// TestMiddlewareEscapedPanic: a panic no inner middleware recovered is
// still recorded, as a 500, before it propagates.
func TestMiddlewareEscapedPanic(t *testing.T) {
	m := newTestMetrics(t)
	e := gin.New()
	e.Use(m.HTTP.Middleware())
	e.GET("/p", func(*gin.Context) { panic("escaped") })
	func() {
		defer func() { _ = recover() }()
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/p", nil))
	}()
	if got := testutil.ToFloat64(m.HTTP.requests.WithLabelValues("GET", "/p", "500")); got != 1 {
		t.Errorf("escaped panic counted %v times as 500", got)
	}
	if got := testutil.ToFloat64(m.HTTP.inFlight); got != 0 {
		t.Errorf("in flight after escaped panic = %v", got)
	}
}

// TestMiddlewareAllocs counts allocations (not time): once a route's
// children are resolved, recording a request allocates nothing.
func TestMiddlewareAllocs(t *testing.T) {
	m := newTestMetrics(t)
	e := gin.New()
	e.Use(m.HTTP.Middleware())
	e.GET("/orders/:id", func(c *gin.Context) { c.Status(200) })
	req := httptest.NewRequest("GET", "/orders/1", nil)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	bare := gin.New()
	bare.GET("/orders/:id", func(c *gin.Context) { c.Status(200) })
	base := testing.AllocsPerRun(200, func() { bare.ServeHTTP(w, req) })
	with := testing.AllocsPerRun(200, func() { e.ServeHTTP(w, req) })
	if with > base && !raceEnabled {
		t.Errorf("metrics middleware allocates %.1f per request over bare gin", with-base)
	}
}

func TestAlertLabelsBounded(t *testing.T) {
	m := newTestMetrics(t)
	for i := 0; i < 500; i++ {
		m.AlertReceived("Alert"+string(rune('A'+i%26))+string(rune('a'+i/26)), "critical", "firing")
	}
	m.AlertReceived("bad name{}", "sev\n", "weird")
	if n := testutil.CollectAndCount(m.alertsReceived); n > maxAlertNames+2 {
		t.Errorf("%d alerts_received_total series, want at most %d", n, maxAlertNames+2)
	}
	if got := testutil.ToFloat64(m.alertsReceived.WithLabelValues("invalid", "other", "other")); got != 1 {
		t.Errorf("malformed labels not mapped: %v", got)
	}
}
