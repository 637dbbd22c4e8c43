package tracing

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/testkit/jaegertest"
)

// TestJaeger sends a request's spans through New's OTLP/HTTP exporter to a
// real Jaeger v2 (the pinned tool, built by gotool: never skipped) and
// finds the trace through Jaeger's query API: the server span, named by
// route, with the query span as its child, under the caller's trace id and
// the configured service name.
func TestJaeger(t *testing.T) {
	j := jaegertest.Start(t)

	reg := prometheus.NewRegistry()
	cfg := config.Config{
		OTLPTracesEndpoint: j.TracesURL(),
		OTelServiceName:    "ordersvc-jaeger-test",
		TracesSampler:      config.SamplerTraceIDRatio,
		TracesSamplerArg:   1,
	}
	p, err := New(context.Background(), cfg, Options{Registerer: reg, ServiceVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_, id := ContextWithNewTrace(context.Background(), true) // a fresh random trace id
	w := serve(newEngine(p), "GET", "/orders/42", http.Header{"Traceparent": {"00-" + id + "-" + remoteSpanID + "-01"}})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown (flush to Jaeger): %v", err)
	}
	if got := droppedSpans(t, reg); got != 0 {
		t.Errorf("otel_spans_dropped_total = %v, want 0", got)
	}

	tr := j.Wait(t, id, 30*time.Second, func(tr jaegertest.Trace) bool { return len(tr.Spans) >= 2 })
	t.Logf("Jaeger has trace %s (service %q): spans %v", id, tr.Service, tr.Names())
	if tr.Service != cfg.OTelServiceName {
		t.Errorf("service.name %q, want %q", tr.Service, cfg.OTelServiceName)
	}
	server, ok := tr.Span("GET /orders/:id")
	if !ok {
		t.Fatalf("no server span; spans: %v", tr.Names())
	}
	query, ok := tr.Span("select orders")
	if !ok {
		t.Fatalf("no query span; spans: %v", tr.Names())
	}
	if server.ParentSpanID != remoteSpanID {
		t.Errorf("server span's parent %q, want the caller's %s", server.ParentSpanID, remoteSpanID)
	}
	if query.ParentSpanID != server.SpanID {
		t.Errorf("query span's parent %q, want the server span %q", query.ParentSpanID, server.SpanID)
	}
	if !server.KindIs(2, "SPAN_KIND_SERVER") || !query.KindIs(3, "SPAN_KIND_CLIENT") {
		t.Errorf("kinds: server %v, query %v; want server and client", server.Kind, query.Kind)
	}
}

// droppedSpans sums otel_spans_dropped_total over its reasons.
func droppedSpans(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == "otel_spans_dropped_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
