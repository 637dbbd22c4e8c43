package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/httpx"
)

func TestNewErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	tests := []struct {
		name string
		cfg  config.Config
		reg  prometheus.Registerer
		want string
	}{
		{"unknown sampler", config.Config{OTLPEndpoint: "http://127.0.0.1:4318", TracesSampler: "sometimes"}, nil, `unknown sampler "sometimes"`},
		{"ratio out of range", config.Config{OTLPEndpoint: "http://127.0.0.1:4318", TracesSampler: config.SamplerTraceIDRatio, TracesSamplerArg: 2}, nil, "not a ratio"},
		{"registered twice", config.Config{OTLPEndpoint: "http://127.0.0.1:4318"}, reg, "register otel_spans_dropped_total"},
	}
	// The first registration succeeds, so the case above collides.
	p, err := New(context.Background(), config.Config{OTLPEndpoint: "http://127.0.0.1:4318"}, Options{Registerer: reg})
	if err != nil || !p.Enabled() {
		t.Fatalf("New with an endpoint: %v (enabled %v)", err, p.Enabled())
	}
	defer p.Shutdown(context.Background())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(context.Background(), tt.cfg, Options{Registerer: tt.reg})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", p, err, tt.want)
			}
		})
	}
}

// blockingExporter holds every export until released.
type blockingExporter struct {
	release chan struct{}
	fail    bool
	mu      sync.Mutex
	got     int
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	e.got += len(spans)
	e.mu.Unlock()
	if e.fail {
		return errors.New("collector unavailable")
	}
	return nil
}

func (e *blockingExporter) Shutdown(context.Context) error { return nil }

func (e *blockingExporter) exported() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got
}

// TestDroppedSpansAreCounted: with the exporter stuck, the queue holds
// MaxQueueSize spans and every further one is dropped and counted; failed
// exports are counted too.
func TestDroppedSpansAreCounted(t *testing.T) {
	const queue, ended = 4, 10
	tests := []struct {
		name                   string
		fail                   bool
		wantQueueFull, wantErr float64
		wantExported           int
	}{
		{"queue full", false, ended - queue, 0, queue},
		{"export failed", true, ended - queue, queue, queue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			exp := &blockingExporter{release: make(chan struct{}), fail: tt.fail}
			p, err := New(context.Background(), config.Config{}, Options{
				Exporter: exp, Registerer: reg,
				MaxQueueSize: queue, MaxExportBatchSize: 2, BatchTimeout: time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			for range ended {
				_, span := p.Tracer().Start(context.Background(), "work")
				span.End()
			}
			close(exp.release)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Shutdown(ctx) // flushes; its error is the exporter's in the failing case
			if got := exp.exported(); got != tt.wantExported {
				t.Errorf("exported %d spans, want %d", got, tt.wantExported)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP otel_spans_dropped_total Spans ended but never exported, by reason: queue_full (the bounded export queue was full) or export_failed.
# TYPE otel_spans_dropped_total counter
otel_spans_dropped_total{reason="export_failed"} `+ftoa(tt.wantErr)+`
otel_spans_dropped_total{reason="queue_full"} `+ftoa(tt.wantQueueFull)+`
`)); err != nil {
				t.Error(err)
			}
		})
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// recordingExporter keeps what it got, across Shutdown (tracetest's
// InMemoryExporter forgets on Shutdown).
type recordingExporter struct {
	mu    sync.Mutex
	names []string
}

func (e *recordingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		e.names = append(e.names, s.Name())
	}
	return nil
}

func (e *recordingExporter) Shutdown(context.Context) error { return nil }

// TestShutdownFlushes: spans still waiting for their batch are exported by
// Shutdown, and spans ended afterwards are not.
func TestShutdownFlushes(t *testing.T) {
	exp := &recordingExporter{}
	p, err := New(context.Background(), config.Config{}, Options{Exporter: exp, BatchTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		_, span := p.Tracer().Start(context.Background(), name)
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_, span := p.Tracer().Start(context.Background(), "late")
	span.End()
	if got := strings.Join(exp.names, ","); got != "a,b" {
		t.Errorf("exported %q, want a,b", got)
	}
}

// nopHandler is a slog.Handler that keeps the last record's attributes.
type nopHandler struct{ last *[]slog.Attr }

func (h nopHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h nopHandler) Handle(_ context.Context, r slog.Record) error {
	if h.last != nil {
		*h.last = (*h.last)[:0]
		r.Attrs(func(a slog.Attr) bool { *h.last = append(*h.last, a); return true })
	}
	return nil
}
func (h nopHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h nopHandler) WithGroup(string) slog.Handler      { return h }

func TestLogHandler(t *testing.T) {
	rec := newRecorder(t, config.SamplerAlwaysOn, 1)
	var served context.Context
	e := newEngine(rec.Provider, func(c *gin.Context) { served = c.Request.Context() })
	serve(e, "GET", "/orders/1", traceparent("01"))
	serverSpanID := trace.SpanContextFromContext(served).SpanID().String()
	child, span := rec.StartQuery(served, DBSystemSQLite, "select", "orders")
	defer span.End(nil)
	childSpanID := trace.SpanContextFromContext(child).SpanID().String()

	withID := httpx.WithRequestID(context.Background(), "req-1")
	tests := []struct {
		name  string
		ctx   context.Context
		attrs []any
		want  map[string]string
	}{
		{"nothing", context.Background(), nil, map[string]string{}},
		{"request id only", withID, nil, map[string]string{"request_id": "req-1"}},
		{"request id already logged", withID, []any{"request_id", "explicit"}, map[string]string{"request_id": "explicit"}},
		{"server span", served, nil, map[string]string{"trace_id": remoteTraceID, "span_id": serverSpanID}},
		{"child span", child, nil, map[string]string{"trace_id": remoteTraceID, "span_id": childSpanID}},
		{"span and request id", httpx.WithRequestID(served, "req-2"), nil, map[string]string{"trace_id": remoteTraceID, "span_id": serverSpanID, "request_id": "req-2"}},
		{"unsampled trace", must(ContextWithNewTrace(withID, false)), nil, nil}, // ids checked below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
			l.InfoContext(tt.ctx, "hello", tt.attrs...)
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			if strings.Count(buf.String(), `"request_id"`) > 1 {
				t.Errorf("request_id twice: %s", buf.Bytes())
			}
			want := tt.want
			if want == nil {
				sc := trace.SpanContextFromContext(tt.ctx)
				want = map[string]string{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String(), "request_id": "req-1"}
			}
			for _, k := range []string{"trace_id", "span_id", "request_id"} {
				v, ok := got[k]
				if w, want := want[k]; ok != want || (ok && v != w) {
					t.Errorf("%s = %v (present %v), want %q (present %v)", k, v, ok, w, want)
				}
			}
		})
	}

	// Allocations: none added for a context with neither, and none for
	// the ids of a request either (they fit the record's inline space).
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "msg", 0)
	r.AddAttrs(slog.String("a", "b"))
	for _, tt := range []struct {
		name string
		ctx  context.Context
	}{{"nothing", context.Background()}, {"request", httpx.WithRequestID(served, "req-2")}} {
		h := LogHandler(nopHandler{})
		if a := testing.AllocsPerRun(100, func() { _ = h.Handle(tt.ctx, r) }); a != 0 && !raceEnabled {
			t.Errorf("%s: %v allocations per record, want 0", tt.name, a)
		}
	}
}

// TestTransport: outgoing requests carry the trace context of their
// context, as a client span when there is a recording span to parent it.
func TestTransport(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	rec := newRecorder(t, config.SamplerAlwaysOn, 1)
	// A request being served: its span is recording.
	served, parent := rec.Tracer().Start(context.Background(), "GET /orders/:id")
	defer parent.End()
	serverSpan := parent.SpanContext()

	newCtx, newID := ContextWithNewTrace(context.Background(), true)
	unsampled, unsampledID := ContextWithNewTrace(context.Background(), false)
	tests := []struct {
		name       string
		p          *Provider
		ctx        context.Context
		wantHeader string // "" = no traceparent; else the trace id and flags it must carry
		wantSpan   bool
	}{
		{"no trace", rec.Provider, context.Background(), "", false},
		// Flags: sampled (01) and random (02): the new ids are random.
		{"new trace, no provider", nil, newCtx, newID + "-03", false},
		{"unsampled, no span", rec.Provider, unsampled, unsampledID + "-02", false},
		{"in a recorded request", rec.Provider, served, serverSpan.TraceID().String() + "-01", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.exp.Reset()
			client := &http.Client{Transport: Transport(nil, tt.p)}
			req, _ := http.NewRequestWithContext(tt.ctx, http.MethodPost, srv.URL+"/x", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if req.Header.Get("Traceparent") != "" {
				t.Error("the caller's request was modified")
			}
			mu.Lock()
			tp := got.Get("Traceparent")
			mu.Unlock()
			if tt.wantHeader == "" {
				if tp != "" {
					t.Errorf("traceparent %q sent, want none", tp)
				}
				return
			}
			parts := strings.Split(tp, "-")
			if len(parts) != 4 || parts[1]+"-"+parts[3] != tt.wantHeader {
				t.Fatalf("traceparent %q, want trace id and flags %s", tp, tt.wantHeader)
			}
			spans := rec.spans(t)
			if !tt.wantSpan {
				if len(spans) != 0 {
					t.Errorf("%d spans exported, want none", len(spans))
				}
				return
			}
			s := byName(t, spans, "POST")
			if s.SpanKind != trace.SpanKindClient || s.Parent.SpanID() != serverSpan.SpanID() {
				t.Errorf("client span kind %v parent %v, want client under %v", s.SpanKind, s.Parent.SpanID(), serverSpan.SpanID())
			}
			if parts[2] != s.SpanContext.SpanID().String() {
				t.Errorf("traceparent parent id %s, want the client span's %s", parts[2], s.SpanContext.SpanID())
			}
			if code := attrs(s.Attributes)["http.response.status_code"].AsInt64(); code != http.StatusAccepted {
				t.Errorf("status code %d, want 202", code)
			}
		})
	}
}
