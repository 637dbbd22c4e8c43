package handlers

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
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
		id := ""
		if v := c.Request.Header[headerRequestID]; len(v) == 1 && saneRequestID(v[0]) {
			id = v[0]
		} else {
			id = newRequestID()
		}
		c.Writer.Header()[headerRequestID] = []string{id}
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
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex digits. Request ids need uniqueness,
// not secrecy, so the runtime's fast generator is enough.
func newRequestID() string {
	var b [16]byte
	const hexDigits = "0123456789abcdef"
	v := rand.Uint64()
	for i := range b {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// accessLog logs one line per request, except for scrapes and probes.
// Through LogAttrs the line costs nothing when the level is disabled.
func accessLog(l *slog.Logger) gin.HandlerFunc {
	if l == nil {
		l = slog.Default()
	}
	return func(c *gin.Context) {
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
