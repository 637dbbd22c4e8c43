package errortracking

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// reported instead of crashing the process. name says what the goroutine
// is, for the report (the goroutine tag).
func (t *Tracker) Go(ctx context.Context, name string, fn func(ctx context.Context)) {
	go t.Run(ctx, name, fn)
}

// Run calls fn under recover, in the calling goroutine, and reports
// whether fn returned normally. A panic is logged and reported to Sentry as
// a fatal event tagged with the goroutine's name.
func (t *Tracker) Run(ctx context.Context, name string, fn func(ctx context.Context)) (ok bool) {
	defer t.recoverGoroutine(ctx, name, &ok)
	fn(ctx)
	return true
}

// recoverGoroutine is deferred by Run; it must call recover itself.
func (t *Tracker) recoverGoroutine(ctx context.Context, name string, ok *bool) {
	v := recover()
	if v == nil {
		return
	}
	*ok = false
	t.logger.LogAttrs(ctx, slog.LevelError, "panic recovered in background goroutine",
		slog.String("goroutine", name),
		slog.String("panic", truncate(fmt.Sprint(v))),
		slog.String("stack", string(debug.Stack())),
	)
	ev := t.panicEvent(v, "goroutine")
	hub := t.hub.Clone()
	hub.Scope().SetTag(TagGoroutine, httpx.Clip(name, 200))
	hub.CaptureEvent(ev)
}
