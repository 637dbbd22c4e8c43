package tracing

import (
	"context"
	"log/slog"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// Log attribute keys LogHandler adds.
const (
	LogKeyTraceID   = "trace_id"
	LogKeySpanID    = "span_id"
	LogKeyRequestID = "request_id"
)

// LogHandler returns next wrapped so that every record logged with a
// context carries, as top-level attributes:
//
//   - trace_id and span_id, when the context holds a span with a valid
//     span context (sampled or not: the ids still join the log lines of
//     one request, and of its callers);
//   - request_id, when the context carries one (internal/httpx), so that
//     handlers need not add it.
//
// A key the record already has is not added again. A record whose context
// has neither costs no extra allocation. Wrap the handler before any
// WithGroup: attributes added at Handle time land in the open group, as
// with any slog.Handler wrapper.
func LogHandler(next slog.Handler) slog.Handler { return logHandler{next: next} }

type logHandler struct {
	next slog.Handler
}

// Enabled implements slog.Handler.
func (h logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	rid := httpx.RequestID(ctx)
	tid, sid, traced := IDs(ctx)
	if rid == "" && !traced {
		return h.next.Handle(ctx, r)
	}
	const hasTrace, hasSpan, hasRequest = 1, 2, 4
	var has int
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case LogKeyTraceID:
			has |= hasTrace
		case LogKeySpanID:
			has |= hasSpan
		case LogKeyRequestID:
			has |= hasRequest
		}
		return true
	})
	var add [3]slog.Attr
	n := 0
	if traced && has&hasTrace == 0 {
		add[n] = slog.String(LogKeyTraceID, tid)
		n++
	}
	if traced && has&hasSpan == 0 {
		add[n] = slog.String(LogKeySpanID, sid)
		n++
	}
	if rid != "" && has&hasRequest == 0 {
		add[n] = slog.String(LogKeyRequestID, rid)
		n++
	}
	if n > 0 {
		r.AddAttrs(add[:n]...)
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{next: h.next.WithGroup(name)}
}
