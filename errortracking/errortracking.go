// Package errortracking recovers panics and reports failures: the panic
// recovery middleware, the recover-and-report helper for background
// goroutines, and (when configured) their delivery to Sentry.
package errortracking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/problem"
)

// PanicCounter counts recovered panics by route template; the metrics
// package implements it.
type PanicCounter interface {
	PanicRecovered(endpoint string)
}

// Options configure a Tracker. The zero value works: it logs to
// slog.Default and counts nothing.
type Options struct {
	Logger *slog.Logger
	Panics PanicCounter
}

// Tracker recovers and reports panics and server errors.
type Tracker struct {
	logger *slog.Logger
	panics PanicCounter
}

// New returns a Tracker.
func New(opts Options) (*Tracker, error) {
	t := &Tracker{logger: opts.Logger, panics: opts.Panics}
	if t.logger == nil {
		t.logger = slog.Default()
	}
	return t, nil
}

// Middleware recovers a panic in the rest of the chain: the client gets a
// 500 problem+json, the panic is counted, logged with its stack and the
// request id, and the process keeps serving. Place it inside the metrics
// middleware (which must see the 500) and outside everything that may panic.
func (t *Tracker) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			// http.ErrAbortHandler is net/http's way to abort a response on
			// purpose; it is not a bug, and net/http must see it.
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			t.recovered(c, v, debug.Stack())
		}()
		c.Next()
	}
}

func (t *Tracker) recovered(c *gin.Context, v any, stack []byte) {
	endpoint := c.FullPath()
	if t.panics != nil {
		t.panics.PanicRecovered(endpoint)
	}
	t.logger.LogAttrs(c.Request.Context(), slog.LevelError, "panic recovered",
		slog.String("request_id", c.Writer.Header().Get("X-Request-Id")),
		slog.String("method", c.Request.Method),
		slog.String("endpoint", endpoint),
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(stack)),
	)
	if c.Writer.Written() {
		// Headers are gone; the client sees a truncated reply. Abort so no
		// later handler writes more.
		c.Abort()
		return
	}
	c.Abort()
	problem.Write(c.Writer, problem.New(http.StatusInternalServerError, "internal", "an unexpected error occurred"))
}

// Go runs fn in a new goroutine under recover: a panic is logged (and
// reported) instead of crashing the process. name says what the goroutine
// is, for the report.
func (t *Tracker) Go(ctx context.Context, name string, fn func(ctx context.Context)) {
	go t.Run(ctx, name, fn)
}

// Run calls fn under recover, in the calling goroutine, and reports
// whether fn returned normally.
func (t *Tracker) Run(ctx context.Context, name string, fn func(ctx context.Context)) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			t.logger.LogAttrs(ctx, slog.LevelError, "panic recovered in background goroutine",
				slog.String("goroutine", name),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())),
			)
		}
	}()
	fn(ctx)
	return true
}
