package handlers

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// requestID gives every request its id (a sane incoming X-Request-ID is
// honoured) in the request's context, where logging, error tracking and
// problem documents read it, and echoes it on the response.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request = httpx.AssignRequestID(c.Writer, c.Request)
	}
}

// maxLoggedPath bounds the raw path in an access log line.
const maxLoggedPath = 256

// accessLog logs one line per request, except for scrapes and probes.
// Through LogAttrs the line costs nothing when the level is disabled.
func accessLog(l *slog.Logger) gin.HandlerFunc {
	if l == nil {
		l = slog.Default()
	}
	return func(c *gin.Context) {
		// Levels are ordered: with warn off, info is off too and no line
		// will be written, so skip the clock read.
		if !l.Enabled(c.Request.Context(), slog.LevelWarn) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if httpx.IsProbe(route) {
			return
		}
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		ctx := c.Request.Context()
		if !l.Enabled(ctx, level) {
			return
		}
		l.LogAttrs(ctx, level, "request",
			slog.String("request_id", httpx.RequestID(ctx)),
			slog.String("method", c.Request.Method),
			// The raw path is client input: quote it so control characters
			// cannot forge log lines in the text format.
			slog.String("path", strconv.Quote(httpx.Clip(c.Request.URL.Path, maxLoggedPath))),
			slog.String("route", httpx.RouteLabel(route)),
			slog.Int("status", status),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("duration", time.Since(start)),
		)
	}
}
