package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordersvc/ordersvc/config"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// recorder is a Provider exporting to memory.
type recorder struct {
	*Provider
	exp *tracetest.InMemoryExporter
}

// newRecorder returns an enabled Provider with the given sampler that
// exports to memory.
func newRecorder(t testing.TB, sampler string, arg float64) *recorder {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	p, err := New(context.Background(), config.Config{TracesSampler: sampler, TracesSamplerArg: arg}, Options{Exporter: exp})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return &recorder{Provider: p, exp: exp}
}

// spans flushes and returns what was exported so far.
func (r *recorder) spans(t testing.TB) tracetest.SpanStubs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ForceFlush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return r.exp.GetSpans()
}

// byName returns the exported span named name, failing when there is not
// exactly one.
func byName(t testing.TB, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		names := make([]string, 0, len(spans))
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("%d spans named %q; exported: %q", len(found), name, names)
	}
	return found[0]
}

// attrs returns a span's attributes as a map.
func attrs(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := make(map[string]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// serve sends one request through e and returns the response.
func serve(e http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

// Fixed ids for incoming traceparents.
const (
	remoteTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpanID  = "00f067aa0ba902b7"
)

// traceparent returns a header set carrying the remote ids with the given
// flags ("01" sampled, "00" not).
func traceparent(flags string) http.Header {
	return http.Header{"Traceparent": {"00-" + remoteTraceID + "-" + remoteSpanID + "-" + flags}}
}
