package faults

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

var faultable = []string{"/orders", "/inventory"}

func TestValidate(t *testing.T) {
	valid := []Config{{}, {ErrorRate: 1}, {PanicRate: 0.5, Routes: []string{"/orders"}}, {LatencyMS: 60000}}
	for _, c := range valid {
		if err := c.Validate(faultable); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	invalid := []Config{{ErrorRate: -0.1}, {ErrorRate: 1.01}, {PanicRate: 2}, {LatencyMS: -1}, {LatencyMS: 60001},
		{Routes: []string{"/metrics"}}, {Routes: []string{"/orders", "/inventory", "/orders"}}}
	for _, c := range invalid {
		if err := c.Validate(faultable); err == nil {
			t.Errorf("%+v accepted", c)
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
