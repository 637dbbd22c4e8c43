package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestOneTraceIDLinksEverything: with tracing on, a panicking request's
// server span, its log lines, its exemplar on /metrics and its Sentry event
// all carry the same trace id; the client's own traceparent is continued.
func TestOneTraceIDLinksEverything(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	sink := sentrytest.New(t, sentrytest.Options{})
	var logs syncBuffer
	svc := testkit.NewService(t, testkit.ServiceOptions{
		Env:          map[string]string{"SENTRY_DSN": sink.DSN(), "LOG_LEVEL": "info"},
		SpanExporter: exp,
		Logger:       slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if w := svc.Admin("PUT", "/admin/faults", `{"panic_rate":1,"routes":["/inventory"]}`); w.Code != http.StatusOK {
		t.Fatalf("faults: %d", w.Code)
	}
	w := svc.Do("GET", "/inventory", "", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("panic request: %d", w.Code)
	}
	// The span (flushed), with the caller's trace id.
	if err := svc.Tracing.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range exp.GetSpans() {
		if s.Name == "GET /inventory" && s.SpanContext.TraceID().String() == traceID {
			found = true
			if s.Status.Code.String() != "Error" {
				t.Errorf("span status %v, want Error for a panic", s.Status)
			}
		}
	}
	if !found {
		t.Fatalf("no GET /inventory span with trace %s among %d spans", traceID, len(exp.GetSpans()))
	}
	// The log lines of the request.
	var panicLine map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"panic recovered"`) {
			_ = json.Unmarshal([]byte(line), &panicLine)
		}
	}
	if panicLine["trace_id"] != traceID || panicLine["span_id"] == nil || panicLine["request_id"] == nil {
		t.Errorf("panic log line %v, want trace_id %s, span_id and request_id", panicLine, traceID)
	}
	// The exemplar, in the OpenMetrics exposition.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), `trace_id="`+traceID+`"`) {
		t.Errorf("no exemplar with trace_id %s in the OpenMetrics exposition", traceID)
	}
	// The Sentry event.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := sink.WaitEvents(ctx, "event", 1)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Tags["trace_id"] != traceID || evs[0].Contexts["trace"]["trace_id"] != traceID {
		t.Errorf("Sentry event tags %v, trace context %v; want trace %s", evs[0].Tags, evs[0].Contexts["trace"], traceID)
	}
}

// TestQueriesAndWebhookAreChildSpans: a traced request's store queries are
// child spans of its server span (db.system and the metric's operation and
// table), and the webhook's work and its Sentry forward are spans too.
func TestQueriesAndWebhookAreChildSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	svc := testkit.NewService(t, testkit.ServiceOptions{SpanExporter: exp})
	const traceID = "5bf92f3577b34da6a3ce929d0e0e4737"
	if w := svc.Do("GET", "/inventory", "", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01"); w.Code != http.StatusOK {
		t.Fatalf("GET /inventory: %d", w.Code)
	}
	alert := `{"version":"4","status":"firing","receiver":"paging","groupKey":"g","alerts":[{"status":"firing",` +
		`"labels":{"alertname":"HighErrorRate","severity":"critical","job":"ordersvc"},"annotations":{},` +
		`"startsAt":"2026-11-21T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"abc"}]}`
	if w := svc.Webhook(alert); w.Code != http.StatusOK {
		t.Fatalf("webhook: %d %s", w.Code, w.Body)
	}
	if err := svc.Tracing.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = append(byName[s.Name], s)
	}
	server, query := byName["GET /inventory"], byName["select products"]
	if len(server) != 1 || len(query) == 0 {
		t.Fatalf("spans %v: want one GET /inventory and its select products", slices.Collect(maps.Keys(byName)))
	}
	q := query[0]
	if q.SpanContext.TraceID().String() != traceID || q.Parent.SpanID() != server[0].SpanContext.SpanID() {
		t.Errorf("select products: trace %s parent %s; want trace %s under the server span %s",
			q.SpanContext.TraceID(), q.Parent.SpanID(), traceID, server[0].SpanContext.SpanID())
	}
	attrs := map[string]string{}
	for _, kv := range q.Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["db.system"] != "sqlite" || attrs["db.operation.name"] != "select" || attrs["db.collection.name"] != "products" {
		t.Errorf("select products attributes %v", attrs)
	}
	hook, fwd := byName["alertmanager.webhook"], byName["sentry.forward_alert"]
	if len(hook) != 1 || len(fwd) != 1 || fwd[0].Parent.SpanID() != hook[0].SpanContext.SpanID() {
		t.Fatalf("webhook spans %d, forward spans %d (want one each, the forward under the webhook)", len(hook), len(fwd))
	}
	if len(byName["insert alerts"]) != 1 || byName["insert alerts"][0].Parent.SpanID() != hook[0].SpanContext.SpanID() {
		t.Errorf("the alert's insert is not a child of the webhook span")
	}
}
