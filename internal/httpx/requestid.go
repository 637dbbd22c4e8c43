package httpx

import (
	"context"
	"math/rand/v2"
	"net/http"
	"unsafe"

	"github.com/ordersvc/ordersvc"
)

// MaxRequestIDLen bounds an incoming request id.
const MaxRequestIDLen = 128

// requestCtx carries a request's id in its context. It also holds the
// response header value and the id's bytes, so that adopting a generated
// id costs one allocation for all three (context.WithValue, []string{id}
// and string(b) would make three).
type requestCtx struct {
	context.Context
	id    string
	value [1]string
	buf   [16]byte
}

// requestIDKey is the context key of the request id. Value returns the
// *requestCtx itself for it: a pointer fits an interface without
// allocating, where the string would not.
type requestIDKey struct{}

// Value implements context.Context.
func (c *requestCtx) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// RequestID returns the id of the request whose context ctx is (or
// derives from), or "" when none was assigned.
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestCtx); ok {
		return c.id
	}
	return ""
}

// WithRequestID returns a copy of ctx carrying id. The caller must have
// checked id with SaneRequestID.
func WithRequestID(ctx context.Context, id string) context.Context {
	c := &requestCtx{Context: ctx, id: id}
	c.value[0] = id
	return c
}

// AssignRequestID gives r an id: a sane incoming X-Request-ID is honoured,
// otherwise a new one is generated. It returns the request to serve (r with
// the id in its context) and sets the id on the response header, where the
// client can quote it. It costs two allocations: the context and the
// request copy that carries it.
func AssignRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	var c *requestCtx
	if v := r.Header[HeaderRequestID]; len(v) == 1 && SaneRequestID(v[0]) {
		c = &requestCtx{Context: r.Context(), id: v[0]}
		c.value[0] = v[0]
	} else {
		c = newRequestCtx(r.Context())
	}
	w.Header()[HeaderRequestID] = c.value[:]
	return r.WithContext(c)
}

// newRequestCtx returns a context with a new id of 16 random hex digits.
// Request ids need uniqueness, not secrecy, so the runtime's fast generator
// is enough. The bytes are never written after the string is made, as
// unsafe.String requires.
func newRequestCtx(parent context.Context) *requestCtx {
	c := &requestCtx{Context: parent}
	const hexDigits = "0123456789abcdef"
	v := rand.Uint64()
	for i := range c.buf {
		c.buf[i] = hexDigits[v&0xf]
		v >>= 4
	}
	c.id = unsafe.String(&c.buf[0], len(c.buf))
	c.value[0] = c.id
	return c
}

// SaneRequestID accepts 1..MaxRequestIDLen characters of [A-Za-z0-9._:-],
// which are safe in logs, headers and error reports.
func SaneRequestID(s string) bool { return ordersvc.IsSafeToken(s, MaxRequestIDLen) }
