package faults

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

var faultable = []string{"/orders", "/inventory"}

func TestValidate(t *testing.T) {
	valid := []Config{{}, {ErrorRate: 1}, {PanicRate: 0.5, Routes: []string{"/orders"}}, {LatencyMS: MaxLatencyMS},
		{Routes: []string{"/orders", "/inventory"}}}
	for _, c := range valid {
		if err := c.Validate(faultable); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	long := "/" + strings.Repeat("é", 10_000)
	invalid := []struct {
		c    Config
		want string // in the message
	}{
		{Config{ErrorRate: -0.1}, "error_rate"},
		{Config{ErrorRate: 1.01}, "error_rate"},
		{Config{ErrorRate: math.NaN()}, "error_rate"},
		{Config{ErrorRate: math.Inf(1)}, "error_rate"},
		{Config{PanicRate: 2}, "panic_rate"},
		{Config{PanicRate: math.NaN()}, "panic_rate"},
		{Config{PanicRate: math.Inf(-1)}, "panic_rate"},
		{Config{LatencyMS: -1}, "latency_ms must be from 0 to " + strconv.Itoa(MaxLatencyMS)},
		{Config{LatencyMS: MaxLatencyMS + 1}, "latency_ms must be from 0 to " + strconv.Itoa(MaxLatencyMS)},
		// Would overflow time.Duration if multiplied before the check.
		{Config{LatencyMS: 288230376151713744}, "latency_ms"},
		{Config{LatencyMS: math.MaxInt64}, "latency_ms"},
		{Config{LatencyMS: math.MinInt64}, "latency_ms"},
		{Config{Routes: []string{"/metrics"}}, "/metrics"},
		{Config{Routes: []string{"/orders", "/orders"}}, "twice"},
		{Config{Routes: []string{"/orders", "/inventory", "/orders"}}, "routes"},
		{Config{Routes: []string{long}}, "routes"},
	}
	for _, tt := range invalid {
		err := tt.c.Validate(faultable)
		if err == nil {
			t.Errorf("%s accepted", short(tt.c))
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.want) || len(msg) > 300 || !utf8.ValidString(msg) {
			t.Errorf("%s: message %.400q, want a short valid one containing %q", short(tt.c), msg, tt.want)
		}
	}
}

// short formats c for a failure message, cut to 100 bytes.
func short(c Config) string {
	s := fmt.Sprintf("%+v", c)
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

func TestLatencyClamped(t *testing.T) {
	for ms, want := range map[int64]time.Duration{
		0: 0, 1500: 1500 * time.Millisecond, MaxLatencyMS: MaxLatency,
		-5: 0, math.MinInt64: 0, MaxLatencyMS + 1: MaxLatency, 288230376151713744: MaxLatency, math.MaxInt64: MaxLatency,
	} {
		if got := latency(ms); got != want {
			t.Errorf("latency(%d) = %v, want %v", ms, got, want)
		}
	}
}

func TestInjector(t *testing.T) {
	var in Injector
	if in.Get().Active() {
		t.Fatal("zero Injector is active")
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(in.Middleware(faultable))
	for _, p := range []string{"/orders", "/inventory", "/metrics"} {
		e.GET(p, func(c *gin.Context) { c.Status(200) })
	}
	status := func(path string) int {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code
	}
	in.Set(Config{ErrorRate: 1, Routes: []string{"/orders"}})
	if status("/orders") != 500 || status("/inventory") != 200 || status("/metrics") != 200 {
		t.Error("routes filter")
	}
	in.Set(Config{ErrorRate: 1})
	if status("/inventory") != 500 || status("/metrics") != 200 {
		t.Error("empty routes means every faultable route, and only those")
	}
	cfg := in.Get()
	cfg.Routes = append(cfg.Routes, "/mutated")
	if len(in.Get().Routes) != 0 {
		t.Error("Get exposes internal state")
	}
	in.Set(Config{})
	if status("/orders") != 200 || in.Get().Active() {
		t.Error("{} does not turn injection off")
	}
}

func TestStopEndsInjectedLatency(t *testing.T) {
	var in Injector
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(in.Middleware(faultable))
	e.GET("/orders", func(c *gin.Context) { c.Status(200) })
	in.Set(Config{LatencyMS: 60000})
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
		done <- w.Code
	}()
	time.Sleep(20 * time.Millisecond) // usually inside the wait; either way it must end
	in.Stop()
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("status = %d, want 200", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not end the injected wait")
	}
}

func TestStopBeforeRequestsSkipsWaits(t *testing.T) {
	var in Injector
	in.Stop()
	in.Stop() // idempotent
	e := gin.New()
	e.Use(in.Middleware(faultable))
	e.GET("/orders", func(c *gin.Context) { c.Status(200) })
	in.Set(Config{LatencyMS: MaxLatencyMS, ErrorRate: 1})
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
		done <- w.Code
	}()
	select {
	case code := <-done:
		if code != 500 {
			t.Errorf("status = %d, want the injected 500: Stop ends waits, not the other faults", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request after Stop waited")
	}
}

func TestRequestContextEndsInjectedLatency(t *testing.T) {
	var in Injector
	e := gin.New()
	e.Use(in.Middleware(faultable))
	e.GET("/orders", func(c *gin.Context) { c.Status(200) })
	in.Set(Config{LatencyMS: MaxLatencyMS})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders", nil).WithContext(ctx))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a canceled request kept waiting")
	}
}

// TestActiveSettingShowsRoutesAsAList: a setting without routes is shown
// with "routes": [] (the API document's list), never null.
func TestActiveSettingShowsRoutesAsAList(t *testing.T) {
	var in Injector
	in.Set(Config{ErrorRate: 0.5})
	if got := in.Get().Routes; got == nil || len(got) != 0 {
		t.Errorf("Routes = %#v, want an empty list", got)
	}
}
