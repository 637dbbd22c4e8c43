package handlers

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"
	"unsafe"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
)

// headerRequestID is the canonical form of X-Request-ID, so the header map
// can be written without canonicalising on every request.
const headerRequestID = "X-Request-Id"

// maxRequestIDLen bounds an incoming request id.
const maxRequestIDLen = 128

// requestID honours a sane incoming X-Request-ID and otherwise generates
// one, and echoes it on the response. The response header is where the id
// lives for the rest of the request (handlers, logs, error reports read it
// back with requestIDOf), which saves a context value per request.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		if v := c.Request.Header[headerRequestID]; len(v) == 1 && saneRequestID(v[0]) {
			// Share the request's value slice: nothing writes to it.
			c.Writer.Header()[headerRequestID] = v
			return
		}
		c.Writer.Header()[headerRequestID] = newRequestID()
	}
}

// requestIDOf returns the request's id.
func requestIDOf(c *gin.Context) string {
	if v := c.Writer.Header()[headerRequestID]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// saneRequestID accepts 1..128 characters of [A-Za-z0-9._:-], which are safe
// in logs and headers.
func saneRequestID(s string) bool {
	return ordersvc.IsSafeToken(s, maxRequestIDLen)
}

// requestIDValue is a header value and the bytes of its one id, so that
// both come from a single allocation.
type requestIDValue struct {
	value [1]string
	id    [16]byte
}

// newRequestID returns a header value holding 16 random hex digits, in one
// allocation (string(b) and []string{id} would make two). Request ids need
// uniqueness, not secrecy, so the runtime's fast generator is enough. The
// bytes are never written after the string is made, as unsafe.String
// requires.
func newRequestID() []string {
	r := new(requestIDValue)
	const hexDigits = "0123456789abcdef"
	v := rand.Uint64()
	for i := range r.id {
		r.id[i] = hexDigits[v&0xf]
		v >>= 4
	}
	r.value[0] = unsafe.String(&r.id[0], len(r.id))
	return r.value[:]
}

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
		switch c.FullPath() {
		case "/metrics", "/healthz", "/readyz":
			return
		}
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		if !l.Enabled(c.Request.Context(), level) {
			return
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		l.LogAttrs(c.Request.Context(), level, "request",
			slog.String("request_id", requestIDOf(c)),
			slog.String("method", c.Request.Method),
			// The raw path is client input: quote it so control characters
			// cannot forge log lines in the text format.
			slog.String("path", strconv.Quote(truncate(c.Request.URL.Path, 256))),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("duration", time.Since(start)),
		)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sprint(v ...any) string { return fmt.Sprint(v...) }
