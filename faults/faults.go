// Package faults injects failures on purpose — errors, latency, panics — so
// that people and end-to-end tests can watch alerts fire for real. It is off
// by default and set at run time through the admin API.
package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/problem"
)

// ErrInjected is the error behind an injected 500.
var ErrInjected = errors.New("faults: injected error")

// MaxLatency bounds injected latency.
const MaxLatency = 60 * time.Second

// Config is the fault-injection setting. The zero value injects nothing.
type Config struct {
	ErrorRate float64  `json:"error_rate"`
	LatencyMS int64    `json:"latency_ms"`
	PanicRate float64  `json:"panic_rate"`
	Routes    []string `json:"routes"`
}

// Active reports whether c injects anything.
func (c Config) Active() bool {
	return c.ErrorRate > 0 || c.LatencyMS > 0 || c.PanicRate > 0
}

// Validate checks c against the routes that may be faulted.
func (c Config) Validate(faultable []string) error {
	var errs []error
	if !(c.ErrorRate >= 0 && c.ErrorRate <= 1) {
		errs = append(errs, errors.New("error_rate must be from 0 to 1"))
	}
	if !(c.PanicRate >= 0 && c.PanicRate <= 1) {
		errs = append(errs, errors.New("panic_rate must be from 0 to 1"))
	}
	if c.LatencyMS < 0 || time.Duration(c.LatencyMS)*time.Millisecond > MaxLatency {
		errs = append(errs, fmt.Errorf("latency_ms must be from 0 to %d", MaxLatency.Milliseconds()))
	}
	if len(c.Routes) > len(faultable) {
		errs = append(errs, errors.New("routes lists more routes than exist"))
	} else {
		for _, r := range c.Routes {
			if !slices.Contains(faultable, r) {
				errs = append(errs, fmt.Errorf("routes: %q is not a business route template (one of %v)", truncate(r), faultable))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Injector holds the current setting and applies it. Its zero value is
// ready and injects nothing.
type Injector struct {
	current atomic.Pointer[Config]
}

// Set replaces the setting; an inactive config turns injection off.
func (in *Injector) Set(c Config) {
	if !c.Active() {
		in.current.Store(nil)
		return
	}
	c.Routes = slices.Clone(c.Routes)
	in.current.Store(&c)
}

// Get returns the current setting (the zero Config when off).
func (in *Injector) Get() Config {
	if c := in.current.Load(); c != nil {
		out := *c
		out.Routes = slices.Clone(c.Routes)
		return out
	}
	return Config{Routes: []string{}}
}

// Middleware applies the setting to the requests of the given route
// templates (all of them when the setting lists none). Routes outside
// faultable are never touched, whatever the setting says. When off, it
// costs one atomic load.
func (in *Injector) Middleware(faultable []string) gin.HandlerFunc {
	allowed := make(map[string]struct{}, len(faultable))
	for _, r := range faultable {
		allowed[r] = struct{}{}
	}
	return func(c *gin.Context) {
		cfg := in.current.Load()
		if cfg == nil {
			return
		}
		route := c.FullPath()
		if _, ok := allowed[route]; !ok {
			return
		}
		if len(cfg.Routes) > 0 && !slices.Contains(cfg.Routes, route) {
			return
		}
		if cfg.LatencyMS > 0 {
			t := time.NewTimer(time.Duration(cfg.LatencyMS) * time.Millisecond)
			select {
			case <-t.C:
			case <-c.Request.Context().Done():
				t.Stop()
			}
		}
		if cfg.PanicRate > 0 && rand.Float64() < cfg.PanicRate {
			panic("faults: injected panic")
		}
		if cfg.ErrorRate > 0 && rand.Float64() < cfg.ErrorRate {
			_ = c.Error(ErrInjected) // lets error tracking see it as a server error
			c.Abort()
			problem.Write(c.Writer, c.Request, problem.New(http.StatusInternalServerError, problem.SlugInjectedFault, "fault injection: this error was injected on purpose"))
		}
	}
}
