package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/httpx"
)

// newEngine returns a gin engine like the service's (strict routing, 405s)
// with the middleware first and a few routes.
func newEngine(p *Provider, extra ...gin.HandlerFunc) *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(p.Middleware())
	e.Use(extra...)
	e.GET("/orders/:id", func(c *gin.Context) {
		ctx, span := p.StartQuery(c.Request.Context(), DBSystemSQLite, "select", "orders")
		span.End(nil)
		_ = ctx
		c.Status(http.StatusOK)
	})
	e.POST("/orders", func(c *gin.Context) {
		_, span := p.StartQuery(c.Request.Context(), DBSystemPostgreSQL, "insert", "orders")
		span.End(errors.New("constraint failed"))
		c.Status(http.StatusInternalServerError)
	})
	e.GET("/panic", func(*gin.Context) { panic("boom") })
	e.GET("/metrics", func(c *gin.Context) { c.Status(http.StatusOK) })
	return e
}

func TestServerSpans(t *testing.T) {
	long := "/" + strings.Repeat("x", 2*MaxPathAttrLen)
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantSpan             string // "" = no server span
		wantRoute            string // "" = no http.route
		wantCode             codes.Code
		wantChild            string
		wantChildSystem      string
		wantChildErr         bool
	}{
		{"matched", "GET", "/orders/42", 200, "GET /orders/:id", "/orders/:id", codes.Unset, "select orders", "sqlite", false},
		{"server error", "POST", "/orders", 500, "POST /orders", "/orders", codes.Error, "insert orders", "postgresql", true},
		{"unmatched", "GET", "/nope", 404, "GET", "", codes.Unset, "", "", false},
		{"unmatched long path", "GET", long, 404, "GET", "", codes.Unset, "", "", false},
		{"method not allowed", "DELETE", "/orders", 405, "DELETE", "", codes.Unset, "", "", false},
		{"non-standard method", "PROPFIND", "/orders", 405, httpx.MethodOther, "", codes.Unset, "", "", false},
		{"probe", "GET", "/metrics", 200, "", "", codes.Unset, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, config.SamplerAlwaysOn, 1)
			w := serve(newEngine(rec.Provider), tt.method, tt.target, nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
			}
			spans := rec.spans(t)
			if tt.wantSpan == "" {
				if len(spans) != 0 {
					t.Fatalf("exported %d spans, want none", len(spans))
				}
				return
			}
			s := byName(t, spans, tt.wantSpan)
			if s.SpanKind != trace.SpanKindServer {
				t.Errorf("kind %v, want server", s.SpanKind)
			}
			a := attrs(s.Attributes)
			if got := a["http.request.method"].AsString(); got != httpx.Method(tt.method) {
				t.Errorf("http.request.method %q, want %q", got, httpx.Method(tt.method))
			}
			if got := a["http.response.status_code"].AsInt64(); got != int64(tt.wantStatus) {
				t.Errorf("http.response.status_code %d, want %d", got, tt.wantStatus)
			}
			if got, ok := a["http.route"]; (tt.wantRoute != "") != ok || got.AsString() != tt.wantRoute {
				t.Errorf("http.route %q (set: %v), want %q", got.AsString(), ok, tt.wantRoute)
			}
			if got := a["url.path"].AsString(); got != httpx.Clip(strings.SplitN(tt.target, "?", 2)[0], MaxPathAttrLen) || len(got) > MaxPathAttrLen {
				t.Errorf("url.path %.40q (%d bytes), want the path clipped to %d", got, len(got), MaxPathAttrLen)
			}
			if s.Status.Code != tt.wantCode {
				t.Errorf("status %v, want %v", s.Status.Code, tt.wantCode)
			}
			if s.Parent.IsValid() {
				t.Errorf("a request without traceparent has a parent: %v", s.Parent)
			}
			if tt.wantChild == "" {
				if len(spans) != 1 {
					t.Errorf("exported %d spans, want only the server span", len(spans))
				}
				return
			}
			child := byName(t, spans, tt.wantChild)
			if child.Parent.SpanID() != s.SpanContext.SpanID() || child.SpanContext.TraceID() != s.SpanContext.TraceID() {
				t.Errorf("query span's parent %v, want the server span %v", child.Parent, s.SpanContext)
			}
			ca := attrs(child.Attributes)
			op, table, _ := strings.Cut(tt.wantChild, " ")
			for k, want := range map[string]string{"db.system": tt.wantChildSystem, "db.system.name": tt.wantChildSystem, "db.operation.name": op, "db.collection.name": table} {
				if got := ca[k].AsString(); got != want {
					t.Errorf("query span %s = %q, want %q", k, got, want)
				}
			}
			if child.SpanKind != trace.SpanKindClient {
				t.Errorf("query span kind %v, want client", child.SpanKind)
			}
			if (child.Status.Code == codes.Error) != tt.wantChildErr {
				t.Errorf("query span status %v, want error: %v", child.Status, tt.wantChildErr)
			}
		})
	}
}

// TestPanics: a panic recovered by an inner middleware (as error tracking
// does) marks the span through RecordPanic and the 500; one that escapes
// every middleware is recorded and re-raised.
func TestPanics(t *testing.T) {
	recovery := func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				RecordPanic(c.Request.Context(), v)
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}()
		c.Next()
	}
	tests := []struct {
		name      string
		extra     []gin.HandlerFunc
		wantPanic bool
	}{
		{"recovered inside", []gin.HandlerFunc{recovery}, false},
		{"escaping", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, config.SamplerAlwaysOn, 1)
			e := newEngine(rec.Provider, tt.extra...)
			var got any
			func() {
				defer func() { got = recover() }()
				serve(e, "GET", "/panic", nil)
			}()
			if (got != nil) != tt.wantPanic || (got != nil && got != "boom") {
				t.Fatalf("panic seen by the caller: %v, want re-raised: %v", got, tt.wantPanic)
			}
			s := byName(t, rec.spans(t), "GET /panic")
			if s.Status.Code != codes.Error || s.Status.Description != "panic" {
				t.Errorf("status %+v, want Error \"panic\"", s.Status)
			}
			if code := attrs(s.Attributes)["http.response.status_code"].AsInt64(); code != 500 {
				t.Errorf("status code %d, want 500", code)
			}
			if len(s.Events) == 0 || s.Events[0].Name != "exception" || attrs(s.Events[0].Attributes)["exception.type"].AsString() != "string" {
				t.Errorf("events %+v, want an exception of type string", s.Events)
			}
		})
	}
}

// TestSampling: a client's sampled flag never forces recording unless the
// operator chose a parentbased_* sampler; the trace id is continued
// whatever the decision.
func TestSampling(t *testing.T) {
	tests := []struct {
		sampler string
		arg     float64
		flags   string // "" = no traceparent
		want    bool   // a span is exported
	}{
		{"", 0, "", true}, // the default: traceidratio, 1
		{"", 0, "00", true},
		{config.SamplerTraceIDRatio, 0, "01", false},
		{config.SamplerTraceIDRatio, 0, "", false},
		{config.SamplerTraceIDRatio, 1, "00", true},
		{config.SamplerAlwaysOff, 0, "01", false},
		{config.SamplerAlwaysOn, 0, "00", true},
		{config.SamplerParentBasedTraceIDRatio, 0, "01", true},
		{config.SamplerParentBasedTraceIDRatio, 0, "00", false},
		{config.SamplerParentBasedTraceIDRatio, 0, "", false},
		{config.SamplerParentBasedTraceIDRatio, 1, "00", false},
		{config.SamplerParentBasedAlwaysOn, 0, "00", false},
		{config.SamplerParentBasedAlwaysOn, 0, "", true},
		{config.SamplerParentBasedAlwaysOff, 0, "01", true},
		{config.SamplerParentBasedAlwaysOff, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.sampler+"/"+tt.flags, func(t *testing.T) {
			rec := newRecorder(t, tt.sampler, tt.arg)
			var seen trace.SpanContext
			e := newEngine(rec.Provider, func(c *gin.Context) { seen = trace.SpanContextFromContext(c.Request.Context()) })
			var h http.Header
			if tt.flags != "" {
				h = traceparent(tt.flags)
			}
			serve(e, "GET", "/orders/1", h)
			spans := rec.spans(t)
			if got := len(spans) > 0; got != tt.want {
				t.Fatalf("exported %d spans, want some: %v", len(spans), tt.want)
			}
			if !seen.IsValid() {
				t.Fatal("the handler's context holds no valid span context")
			}
			if seen.IsSampled() != tt.want {
				t.Errorf("handler sees sampled=%v, want %v", seen.IsSampled(), tt.want)
			}
			if tt.flags != "" && seen.TraceID().String() != remoteTraceID {
				t.Errorf("trace id %s, want the caller's %s continued", seen.TraceID(), remoteTraceID)
			}
			if tt.want && tt.flags != "" {
				s := byName(t, spans, "GET /orders/:id")
				if s.Parent.SpanID().String() != remoteSpanID || !s.Parent.IsRemote() {
					t.Errorf("parent %v, want the caller's span %s", s.Parent, remoteSpanID)
				}
			}
		})
	}
}

// TestRatioSamplerResistsChosenTraceIDs: the SDK's ratio sampler reads the
// low bytes of the trace id, which a caller chooses; ours hashes them with
// a secret seed, so chosen ids are sampled at the configured ratio.
func TestRatioSamplerResistsChosenTraceIDs(t *testing.T) {
	const n, ratio = 2000, 0.05
	rec := newRecorder(t, config.SamplerTraceIDRatio, ratio)
	e := newEngine(rec.Provider)
	for i := range n {
		// The low 8 bytes are zero: the smallest value, sampled by the
		// SDK's TraceIDRatioBased at any ratio above 0.
		id := strings.Repeat("0", 12) + hex4(i) + strings.Repeat("0", 16)
		serve(e, "GET", "/orders/1", http.Header{"Traceparent": {"00-" + id + "-" + remoteSpanID + "-01"}})
	}
	// Server and query span per sampled request.
	sampled := len(rec.spans(t)) / 2
	if sampled > 3*n*ratio || sampled == 0 {
		t.Errorf("%d of %d requests with chosen trace ids sampled, want about %.0f", sampled, n, n*ratio)
	}

	rec.exp.Reset()
	for range n {
		serve(e, "GET", "/orders/1", nil)
	}
	if roots := len(rec.spans(t)) / 2; roots > 3*n*ratio || roots == 0 {
		t.Errorf("%d of %d new traces sampled, want about %.0f", roots, n, n*ratio)
	}
}

func hex4(i int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[i>>12&15], digits[i>>8&15], digits[i>>4&15], digits[i&15]})
}

// TestTraceIDInRequest: TraceID gives the sampled server span's id, free
// of allocation, and nothing for an unsampled request.
func TestTraceIDInRequest(t *testing.T) {
	for _, sampler := range []string{config.SamplerAlwaysOn, config.SamplerAlwaysOff} {
		t.Run(sampler, func(t *testing.T) {
			rec := newRecorder(t, sampler, 1)
			var id, anyID string
			var ok, anyOK bool
			var allocs float64
			e := newEngine(rec.Provider, func(c *gin.Context) {
				ctx := c.Request.Context()
				id, ok = TraceID(ctx)
				anyID, _, anyOK = IDs(ctx)
				allocs = testing.AllocsPerRun(100, func() { TraceID(ctx); IDs(ctx) })
			})
			serve(e, "GET", "/orders/1", traceparent("01"))
			if want := sampler == config.SamplerAlwaysOn; ok != want {
				t.Fatalf("TraceID ok = %v, want %v", ok, want)
			}
			if ok && id != remoteTraceID {
				t.Errorf("TraceID = %q, want %q", id, remoteTraceID)
			}
			if !anyOK || anyID != remoteTraceID { // sampled or not
				t.Errorf("IDs = %q, %v; want %q", anyID, anyOK, remoteTraceID)
			}
			if allocs != 0 && !raceEnabled {
				t.Errorf("TraceID and IDs allocate %v times, want 0", allocs)
			}
		})
	}
	if id, ok := TraceID(context.Background()); ok || id != "" {
		t.Errorf("TraceID(background) = %q, %v", id, ok)
	}
	ctx, want := ContextWithNewTrace(context.Background(), true)
	if id, ok := TraceID(ctx); !ok || id != want || len(id) != 32 {
		t.Errorf("TraceID of a new trace = %q, %v; want %q", id, ok, want)
	}
	if _, ok := TraceID(must(ContextWithNewTrace(context.Background(), false))); ok {
		t.Error("TraceID of an unsampled new trace: want false")
	}
}

func must(ctx context.Context, _ string) context.Context { return ctx }

// TestOffCostsNothing: a disabled Provider's middleware adds no
// allocation to a request, and its helpers none either.
func TestOffCostsNothing(t *testing.T) {
	p, err := New(context.Background(), config.Config{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() {
		t.Fatal("no endpoint: want a disabled provider")
	}
	handler := func(c *gin.Context) { c.Status(http.StatusOK) }
	bare := gin.New()
	bare.GET("/orders/:id", handler)
	off := gin.New()
	off.Use(p.Middleware())
	off.GET("/orders/:id", handler)

	r := httptest.NewRequest("GET", "/orders/1", nil)
	r.Header = traceparent("01")
	w := httptest.NewRecorder()
	measure := func(e *gin.Engine) float64 {
		return testing.AllocsPerRun(200, func() { e.ServeHTTP(w, r) })
	}
	if b, o := measure(bare), measure(off); o != b && !raceEnabled {
		t.Errorf("request allocations: %v with tracing off, %v without the middleware: want equal", o, b)
	}
	ctx := httpx.WithRequestID(context.Background(), "abc")
	if a := testing.AllocsPerRun(100, func() {
		_, span := p.StartQuery(ctx, DBSystemSQLite, "select", "orders")
		span.End(nil)
		_, span = p.StartSpan(ctx, "webhook")
		span.End(nil)
		TraceID(ctx)
	}); a != 0 && !raceEnabled {
		t.Errorf("StartQuery, StartSpan, TraceID with tracing off: %v allocations, want 0", a)
	}
	if _, ok := p.TracerProvider().(noop.TracerProvider); !ok {
		t.Errorf("disabled TracerProvider is %T, want the no-op one", p.TracerProvider())
	}
	var nilP *Provider
	if nilP.Enabled() || nilP.Shutdown(context.Background()) != nil || nilP.ForceFlush(context.Background()) != nil {
		t.Error("a nil Provider must be a disabled one")
	}
	if _, span := nilP.StartQuery(ctx, DBSystemSQLite, "select", "orders"); span != (Span{}) {
		t.Error("a nil Provider started a span")
	}
}

// TestOnAllocations reports what a traced request costs, and bounds it.
func TestOnAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	handler := func(c *gin.Context) { c.Status(http.StatusOK) }
	bare := gin.New()
	bare.GET("/orders/:id", handler)
	r := httptest.NewRequest("GET", "/orders/1", nil)
	r.Header = traceparent("01")
	w := httptest.NewRecorder()
	base := testing.AllocsPerRun(200, func() { bare.ServeHTTP(w, r) })
	for _, tt := range []struct {
		sampler string
		max     float64
	}{
		{config.SamplerAlwaysOn, 12},
		{config.SamplerAlwaysOff, 6},
	} {
		rec := newRecorder(t, tt.sampler, 1)
		e := gin.New()
		e.Use(rec.Middleware())
		e.GET("/orders/:id", handler)
		got := testing.AllocsPerRun(200, func() { e.ServeHTTP(w, r) }) - base
		t.Logf("tracing on, %s: %v allocations per request over bare gin", tt.sampler, got)
		if got > tt.max {
			t.Errorf("%s: %v allocations per request, want at most %v", tt.sampler, got, tt.max)
		}
	}
}
