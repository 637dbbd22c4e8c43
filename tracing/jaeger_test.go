package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/gotool"
)

// TestJaeger sends a request's spans through New's OTLP/HTTP exporter to a
// real Jaeger v2 (the pinned tool, built by gotool: never skipped) and
// finds the trace through Jaeger's query API: the server span, named by
// route, with the query span as its child, under the caller's trace id and
// the configured service name.
func TestJaeger(t *testing.T) {
	j := startJaeger(t)

	reg := prometheus.NewRegistry()
	cfg := config.Config{
		OTLPTracesEndpoint: "http://" + j.otlp + "/v1/traces",
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
		t.Fatalf("Shutdown (flush to Jaeger): %v\njaeger output:\n%s", err, j.output())
	}
	if got := droppedSpans(t, reg); got != 0 {
		t.Errorf("otel_spans_dropped_total = %v, want 0", got)
	}

	tr := j.trace(t, id)
	t.Logf("Jaeger has trace %s (service %q): spans %v", id, tr.service, tr.names())
	if tr.service != cfg.OTelServiceName {
		t.Errorf("service.name %q, want %q", tr.service, cfg.OTelServiceName)
	}
	server, ok := tr.spans["GET /orders/:id"]
	if !ok {
		t.Fatalf("no server span; spans: %v", tr.names())
	}
	query, ok := tr.spans["select orders"]
	if !ok {
		t.Fatalf("no query span; spans: %v", tr.names())
	}
	if server.ParentSpanID != remoteSpanID {
		t.Errorf("server span's parent %q, want the caller's %s", server.ParentSpanID, remoteSpanID)
	}
	if query.ParentSpanID != server.SpanID {
		t.Errorf("query span's parent %q, want the server span %q", query.ParentSpanID, server.SpanID)
	}
	if !kindIs(server.Kind, 2, "SPAN_KIND_SERVER") || !kindIs(query.Kind, 3, "SPAN_KIND_CLIENT") {
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

// jaeger is a running Jaeger v2.
type jaeger struct {
	otlp, query string // host:port
	mu          sync.Mutex
	out         bytes.Buffer
}

func (j *jaeger) Write(b []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.out.Write(b)
}

func (j *jaeger) output() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.out.String()
}

// startJaeger starts the pinned Jaeger on free loopback ports with
// tools/jaeger/config-test.yaml, waits until its query API answers, and
// stops it (by its PID) when the test ends.
func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := gotool.Path(t, "jaeger")
	root, err := gotool.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	j := &jaeger{otlp: freeAddr(t), query: freeAddr(t)}
	cmd := exec.Command(bin, "--config", filepath.Join(root, "tools", "jaeger", "config-test.yaml"))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"JAEGER_OTLP_HTTP="+j.otlp,
		"JAEGER_QUERY_HTTP="+j.query,
		"JAEGER_QUERY_GRPC="+freeAddr(t),
	)
	cmd.Stdout, cmd.Stderr = j, j
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jaeger: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stop := time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			t.Logf("jaeger stopped in %v", time.Since(stop).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Logf("jaeger killed: still running 10s after SIGTERM\n%s", j.output())
		}
	})

	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("jaeger exited: %v\n%s", err, j.output())
		default:
		}
		resp, err := http.Get("http://" + j.query + "/api/v3/services")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && dialable(j.otlp) {
				t.Logf("jaeger (pid %d) ready after %v: OTLP/HTTP on %s, query on %s", cmd.Process.Pid, time.Since(start).Round(time.Millisecond), j.otlp, j.query)
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger not ready after 60s (last error %v)\n%s", err, j.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// jaegerSpan is the part of an OTLP/JSON span the test reads.
type jaegerSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         any    `json:"kind"` // OTLP/JSON: the enum's number, or its name
}

// kindIs reports whether an OTLP/JSON span kind is the given one.
func kindIs(v any, n float64, name string) bool { return v == n || v == name }

// foundTrace is a trace as the query API returned it.
type foundTrace struct {
	service string
	spans   map[string]jaegerSpan // by name
}

func (f foundTrace) names() []string {
	names := make([]string, 0, len(f.spans))
	for n := range f.spans {
		names = append(names, n)
	}
	return names
}

// trace polls GET /api/v3/traces/{id} until the trace has two spans or 30
// seconds pass.
func (j *jaeger) trace(t *testing.T, id string) foundTrace {
	t.Helper()
	url := "http://" + j.query + "/api/v3/traces/" + id
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		f, body, err := getTrace(url)
		if err == nil && len(f.spans) >= 2 {
			for _, s := range f.spans {
				if s.TraceID != id {
					t.Errorf("span %q in trace %s, want %s", s.Name, s.TraceID, id)
				}
			}
			return f
		}
		last = fmt.Sprintf("%v: %.500s", err, body)
		if time.Now().After(deadline) {
			t.Fatalf("trace %s not found in Jaeger: %s\njaeger output:\n%s", id, last, j.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getTrace(url string) (foundTrace, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return foundTrace{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return foundTrace{}, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return foundTrace{}, body, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc struct {
		Result struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []struct {
						Key   string `json:"key"`
						Value struct {
							StringValue string `json:"stringValue"`
						} `json:"value"`
					} `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []jaegerSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return foundTrace{}, body, fmt.Errorf("decode: %w", err)
	}
	f := foundTrace{spans: map[string]jaegerSpan{}}
	for _, rs := range doc.Result.ResourceSpans {
		for _, a := range rs.Resource.Attributes {
			if a.Key == "service.name" {
				f.service = a.Value.StringValue
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				f.spans[s.Name] = s
			}
		}
	}
	return f, body, nil
}
