package bench

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMain(m *testing.M) {
	// Debug mode prints every route and a warning per engine.
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// mustCase builds the named case and registers its cleanup.
func mustCase(tb testing.TB, name string) benchCase {
	tb.Helper()
	c, err := newCase(name)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if c.cleanup != nil {
		tb.Cleanup(c.cleanup)
	}
	return c
}

// BenchmarkMiddleware serves one request per iteration through each case,
// with a reused request and a writer that discards, from one goroutine.
// Besides ns/op (wall time) it reports cpu-ns/op, the CPU time of the
// benchmark's thread, which a busy machine disturbs much less.
func BenchmarkMiddleware(b *testing.B) {
	for _, name := range caseNames {
		b.Run(name, func(b *testing.B) {
			c := mustCase(b, name)
			serveLoop(b, c.handler)
		})
	}
}

// reportCPU reports the CPU time clock says was used since start, per
// iteration, as cpu-ns/op; ok false (no CPU clock) reports nothing.
func reportCPU(b *testing.B, start time.Duration, ok bool, clock func() (time.Duration, bool)) {
	end, endOK := clock()
	if !ok || !endOK || b.N == 0 {
		return
	}
	b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkMiddlewareParallel is BenchmarkMiddleware from GOMAXPROCS
// goroutines at once, each with its own request and writer: it shows
// contention on shared state (locks, atomics, pools) in the middleware.
// Its cpu-ns/op is the whole process's CPU time (all threads, the garbage
// collector included) per request.
func BenchmarkMiddlewareParallel(b *testing.B) {
	for _, name := range caseNames {
		b.Run(name, func(b *testing.B) {
			c := mustCase(b, name)
			b.ReportAllocs()
			b.ResetTimer()
			start, ok := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				w, req := newSinkWriter(), newRequest()
				served := false
				for pb.Next() {
					w.reset()
					c.handler.ServeHTTP(w, req)
					served = true
				}
				// A goroutine may get no iteration at all.
				if served && w.status != http.StatusOK {
					b.Errorf("status %d, want 200", w.status)
				}
			})
			reportCPU(b, start, ok, processCPU)
		})
	}
}

// BenchmarkAccessLog is the ordersvc case with the access log on, as in
// production at level info: a JSON line per request, written to
// io.Discard. The difference with BenchmarkMiddleware/ordersvc is the cost
// of the log line itself, sink excluded.
func BenchmarkAccessLog(b *testing.B) {
	c, err := newOrdersvc("ordersvc", slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.cleanup)
	serveLoop(b, c.handler)
}

// serveLoop serves one request per iteration through h from one locked
// thread, reporting allocations and cpu-ns/op, and checks the last answer.
func serveLoop(b *testing.B, h http.Handler) {
	w, req := newSinkWriter(), newRequest()
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
	}
	reportCPU(b, start, ok, threadCPU)
	if w.status != http.StatusOK {
		b.Fatalf("status %d, want 200", w.status)
	}
}

// TestCases checks that every case answers the request with a 200 and the
// body, and that the ones with metrics recorded it, so that the benchmarks
// cannot silently measure a broken stack.
func TestCases(t *testing.T) {
	for _, name := range caseNames {
		t.Run(name, func(t *testing.T) {
			c := mustCase(t, name)
			w := newSinkWriter()
			c.handler.ServeHTTP(w, newRequest())
			if w.status != http.StatusOK || w.written != len(orderBody) {
				t.Fatalf("status %d with %d bytes, want 200 with %d", w.status, w.written, len(orderBody))
			}
			if c.registry == nil {
				return
			}
			if got := sum(t, c.registry, c.requests, nil); got != 1 {
				t.Errorf("%s sums to %v after one request, want 1", c.requests, got)
			}
		})
	}
}

// TestOrdersvcRecords checks, beyond TestCases, that the production stack
// did all its jobs on the benchmarked request: the RED series of the route
// template, the in-flight gauge back to zero, and a generated request id.
func TestOrdersvcRecords(t *testing.T) {
	c := mustCase(t, "ordersvc")
	w := newSinkWriter()
	c.handler.ServeHTTP(w, newRequest())
	if w.status != http.StatusOK {
		t.Fatalf("status %d, want 200", w.status)
	}
	if id := w.header.Get("X-Request-Id"); id == "" {
		t.Error("no X-Request-Id on the response")
	}
	labels := map[string]string{"method": "GET", "endpoint": route}
	for _, tc := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"http_requests_total", map[string]string{"method": "GET", "endpoint": route, "status_code": "200"}, 1},
		{"http_requests_total", map[string]string{"method": "GET", "endpoint": route, "status_code": "500"}, 0},
		{"http_request_duration_seconds", labels, 1},
		{"http_requests_in_flight", nil, 0},
	} {
		if got := sum(t, c.registry, tc.family, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.family, tc.labels, got, tc.want)
		}
	}
}

// sum adds up, over the series of family in reg whose labels include
// labels, the counter or gauge values or the histogram sample counts. A
// missing family fails the test.
func sum(t *testing.T, reg *prometheus.Registry, family string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		total := 0.0
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			case m.Histogram != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				total += float64(m.GetSummary().GetSampleCount())
			}
		}
		return total
	}
	t.Fatalf("no %s in the registry", family)
	return 0
}

// hasLabels reports whether m carries every name=value pair of want.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}
