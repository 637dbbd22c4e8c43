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
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/problem"
)

// ErrInjected is the error behind an injected 500.
var ErrInjected = errors.New("faults: injected error")

// MaxLatencyMS is the largest accepted latency_ms. Validation compares
// the raw number with it before any conversion to a time.Duration, so a
// huge value cannot overflow into a short or negative wait.
const MaxLatencyMS = 60_000

// MaxLatency bounds injected latency (MaxLatencyMS as a duration).
const MaxLatency = MaxLatencyMS * time.Millisecond

// maxRouteBytes bounds the length of a route template quoted in an error.
const maxRouteBytes = 64

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

// Validate checks c against the routes that may be faulted: rates are
// numbers from 0 to 1 (NaN and infinities are refused), latency_ms is from
// 0 to MaxLatencyMS, and routes lists distinct templates of faultable. Its
// message is fit for a client (the admin API answers it with a 422).
func (c Config) Validate(faultable []string) error {
	var errs []error
	if !isRate(c.ErrorRate) {
		errs = append(errs, errors.New("error_rate must be a number from 0 to 1"))
	}
	if !isRate(c.PanicRate) {
		errs = append(errs, errors.New("panic_rate must be a number from 0 to 1"))
	}
	// Compare in milliseconds: converting first would overflow.
	if c.LatencyMS < 0 || c.LatencyMS > MaxLatencyMS {
		errs = append(errs, fmt.Errorf("latency_ms must be from 0 to %d", MaxLatencyMS))
	}
	if len(c.Routes) > len(faultable) {
		errs = append(errs, fmt.Errorf("routes lists %d routes, more than the %d that may be faulted", len(c.Routes), len(faultable)))
	} else {
		for i, r := range c.Routes {
			if !slices.Contains(faultable, r) {
				errs = append(errs, fmt.Errorf("routes: %q is not a business route template (one of %v)", truncate(r), faultable))
				break
			}
			if slices.Contains(c.Routes[:i], r) {
				errs = append(errs, fmt.Errorf("routes: %q is listed twice", r))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// isRate reports whether r is a probability; NaN compares false.
func isRate(r float64) bool { return r >= 0 && r <= 1 }

// truncate shortens a client-supplied route to maxRouteBytes for an error,
// without cutting a UTF-8 sequence in half.
func truncate(s string) string {
	if len(s) <= maxRouteBytes {
		return s
	}
	i := maxRouteBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// latency converts a latency_ms to a wait, clamped to [0, MaxLatency] so
// that even a setting that skipped Validate cannot overflow.
func latency(ms int64) time.Duration {
	return time.Duration(min(max(ms, 0), MaxLatencyMS)) * time.Millisecond
}

// Injector holds the current setting and applies it. Its zero value is
// ready and injects nothing. Stop ends every injected wait, for the
// shutdown: injected latency must not hold the drain.
type Injector struct {
	current atomic.Pointer[Config]

	initStop sync.Once
	stopOnce sync.Once
	stop     chan struct{} // closed by Stop; made by stopped
}

// stopped returns the channel Stop closes.
func (in *Injector) stopped() chan struct{} {
	in.initStop.Do(func() { in.stop = make(chan struct{}) })
	return in.stop
}

// Stop ends the injected waits in progress at once and makes later
// requests skip theirs; injected errors and panics are unaffected. The
// server calls it when shutdown starts. It is safe to call more than once
// and concurrently with requests.
func (in *Injector) Stop() {
	ch := in.stopped()
	in.stopOnce.Do(func() { close(ch) })
}

// Set replaces the setting; an inactive config turns injection off.
func (in *Injector) Set(c Config) {
	if !c.Active() {
		in.current.Store(nil)
		return
	}
	c.Routes = slices.Clone(c.Routes)
	if c.Routes == nil {
		c.Routes = []string{} // shown as [], never null
	}
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
// costs one atomic load. An injected wait ends early when the request's
// context ends or Stop is called.
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
			t := time.NewTimer(latency(cfg.LatencyMS))
			select {
			case <-t.C:
			case <-c.Request.Context().Done():
				t.Stop()
			case <-in.stopped():
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
