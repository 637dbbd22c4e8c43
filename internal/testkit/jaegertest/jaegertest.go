// Package jaegertest runs the pinned Jaeger v2 (tools/jaeger, built by
// internal/gotool) for tests: in-memory storage, OTLP/HTTP in, the query
// API out, every listener on a free 127.0.0.1 port
// (tools/jaeger/config-test.yaml), and reads traces back through the query
// API (GET /api/v3/traces/{id}).
//
// It is a package of its own, not part of testkit, because the tracing
// package's own tests use it and testkit imports internal/app, which
// imports tracing: an in-package test of tracing cannot import testkit.
// So it imports nothing of the service.
package jaegertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/gotool"
)

// Bounds of the Jaeger process and of lookups.
const (
	// StartTimeout bounds the start-up, until the query API answers and
	// the OTLP port accepts connections.
	StartTimeout = 60 * time.Second
	// StopGrace is how long Jaeger gets to exit after SIGTERM before it is
	// killed.
	StopGrace = 10 * time.Second
	// pollInterval is how often Wait polls the query API.
	pollInterval = 200 * time.Millisecond
)

// client is the HTTP client of every query: bounded in time.
var client = &http.Client{Timeout: 10 * time.Second}

// Jaeger is a running Jaeger v2.
type Jaeger struct {
	// OTLP is the OTLP/HTTP receiver's host:port; the traces URL is
	// http://OTLP/v1/traces.
	OTLP string
	// Query is the query API's host:port.
	Query string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the exit error; valid once done is closed
	mu   sync.Mutex
	out  bytes.Buffer
}

// Write collects Jaeger's stdout and stderr.
func (j *Jaeger) Write(b []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.out.Write(b)
}

// Output is what Jaeger has printed so far.
func (j *Jaeger) Output() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.out.String()
}

// PID is the process id.
func (j *Jaeger) PID() int { return j.cmd.Process.Pid }

// Endpoint is the OTLP/HTTP base URL, the value of
// OTEL_EXPORTER_OTLP_ENDPOINT.
func (j *Jaeger) Endpoint() string { return "http://" + j.OTLP }

// TracesURL is the OTLP/HTTP traces URL, the value of
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
func (j *Jaeger) TracesURL() string { return j.Endpoint() + "/v1/traces" }

// TraceURL is the query API's URL of one trace.
func (j *Jaeger) TraceURL(id string) string { return "http://" + j.Query + "/api/v3/traces/" + id }

// Start starts the pinned Jaeger on free loopback ports with
// tools/jaeger/config-test.yaml, in a minimal environment (nothing of the
// developer's shell leaks in), waits until its query API answers and its
// OTLP port accepts connections, and stops it by its PID when the test
// ends (SIGTERM, then SIGKILL after StopGrace). Jaeger's output is printed
// if the test failed. Building the tool takes minutes on a cold cache; it
// fails the test (never skips) when it cannot be built.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	bin := gotool.Path(t, "jaeger")
	root, err := gotool.RepoRoot()
	if err != nil {
		t.Fatalf("jaegertest: %v", err)
	}
	j := &Jaeger{OTLP: freeAddr(t), Query: freeAddr(t), done: make(chan struct{})}
	j.cmd = exec.Command(bin, "--config", filepath.Join(root, "tools", "jaeger", "config-test.yaml"))
	j.cmd.Dir = t.TempDir()
	j.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"JAEGER_OTLP_HTTP=" + j.OTLP,
		"JAEGER_QUERY_HTTP=" + j.Query,
		// The gRPC query server cannot be turned off: give it a port too.
		"JAEGER_QUERY_GRPC=" + freeAddr(t),
	}
	j.cmd.Stdout, j.cmd.Stderr = j, j
	if err := j.cmd.Start(); err != nil {
		t.Fatalf("start jaeger: %v", err)
	}
	go func() {
		j.err = j.cmd.Wait()
		close(j.done)
	}()
	t.Cleanup(func() {
		if err := j.Stop(); err != nil {
			t.Logf("jaeger (pid %d): %v", j.PID(), err)
		}
		if t.Failed() {
			t.Logf("--- jaeger output ---\n%s", j.Output())
		}
	})

	start := time.Now()
	for {
		select {
		case <-j.done:
			t.Fatalf("jaeger exited during start-up: %v\n%s", j.err, j.Output())
		default:
		}
		err := j.ready()
		if err == nil {
			t.Logf("jaeger (pid %d) ready after %s: OTLP/HTTP on %s, query on %s", j.PID(), time.Since(start).Round(time.Millisecond), j.OTLP, j.Query)
			return j
		}
		if time.Since(start) > StartTimeout {
			t.Fatalf("jaeger not ready after %s: %v\n%s", StartTimeout, err, j.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready returns nil once the query API answers and the OTLP port accepts
// connections.
func (j *Jaeger) ready() error {
	resp, err := client.Get("http://" + j.Query + "/api/v3/services")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/v3/services: status %d", resp.StatusCode)
	}
	c, err := net.DialTimeout("tcp", j.OTLP, time.Second)
	if err != nil {
		return fmt.Errorf("OTLP port: %w", err)
	}
	return c.Close()
}

// Stop sends SIGTERM to Jaeger by its PID and waits up to StopGrace for it
// to exit, then kills it. It returns nil for a clean exit (or one already
// over), else why not.
func (j *Jaeger) Stop() error {
	select {
	case <-j.done:
		return nil
	default:
	}
	_ = j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.done:
		return nil
	case <-time.After(StopGrace):
		_ = j.cmd.Process.Kill()
		<-j.done
		return fmt.Errorf("still running %s after SIGTERM: killed", StopGrace)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Attr is an OTLP/JSON attribute.
type Attr struct {
	Key   string   `json:"key"`
	Value AnyValue `json:"value"`
}

// AnyValue is an OTLP/JSON attribute value; string, int, bool and arrays
// of them are read (Jaeger adds its own warnings as an array).
type AnyValue struct {
	StringValue *string `json:"stringValue"`
	IntValue    *string `json:"intValue"` // OTLP/JSON: int64 as a string
	BoolValue   *bool   `json:"boolValue"`
	ArrayValue  *struct {
		Values []AnyValue `json:"values"`
	} `json:"arrayValue"`
}

// String is the value as text; an array is its elements joined by "; ".
func (v AnyValue) String() string {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		return *v.IntValue
	case v.BoolValue != nil:
		return fmt.Sprint(*v.BoolValue)
	case v.ArrayValue != nil:
		s := make([]string, len(v.ArrayValue.Values))
		for i, e := range v.ArrayValue.Values {
			s[i] = e.String()
		}
		return strings.Join(s, "; ")
	}
	return ""
}

// String is the attribute's value as text.
func (a Attr) String() string { return a.Value.String() }

// Span is the part of an OTLP/JSON span tests read.
type Span struct {
	TraceID           string `json:"traceId"`
	SpanID            string `json:"spanId"`
	ParentSpanID      string `json:"parentSpanId"`
	Name              string `json:"name"`
	Kind              any    `json:"kind"` // the enum's number, or its name
	StartTimeUnixNano string `json:"startTimeUnixNano"`
	EndTimeUnixNano   string `json:"endTimeUnixNano"`
	Attributes        []Attr `json:"attributes"`
	Status            struct {
		Code any `json:"code"` // the enum's number, or its name
	} `json:"status"`
}

// Attr returns the value of the span's attribute key and whether it is
// set.
func (s Span) Attr(key string) (string, bool) {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.String(), true
		}
	}
	return "", false
}

// Duration is the span's end minus its start (0 if either is unreadable).
func (s Span) Duration() time.Duration {
	var start, end int64
	if _, err := fmt.Sscan(s.StartTimeUnixNano, &start); err != nil {
		return 0
	}
	if _, err := fmt.Sscan(s.EndTimeUnixNano, &end); err != nil {
		return 0
	}
	return time.Duration(end - start)
}

// KindIs reports whether the span's kind is the one given by its OTLP
// number (2 server, 3 client) and name ("SPAN_KIND_SERVER").
func (s Span) KindIs(n float64, name string) bool { return s.Kind == n || s.Kind == name }

// Trace is one trace as the query API returned it.
type Trace struct {
	// Service is the service.name resource attribute (of the last
	// resource that has one).
	Service string
	// Spans are every span, in the order returned.
	Spans []Span
}

// Span returns the first span called name.
func (tr Trace) Span(name string) (Span, bool) {
	i := slices.IndexFunc(tr.Spans, func(s Span) bool { return s.Name == name })
	if i < 0 {
		return Span{}, false
	}
	return tr.Spans[i], true
}

// Names lists the spans' names, in order.
func (tr Trace) Names() []string {
	names := make([]string, len(tr.Spans))
	for i, s := range tr.Spans {
		names[i] = s.Name
	}
	return names
}

// ErrNotFound is Lookup's error for a trace Jaeger does not hold.
var ErrNotFound = errors.New("trace not found")

// Lookup asks the query API for trace id once. A trace Jaeger does not
// hold is ErrNotFound (the v3 API answers 404).
func (j *Jaeger) Lookup(ctx context.Context, id string) (Trace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.TraceURL(id), nil)
	if err != nil {
		return Trace{}, fmt.Errorf("look up trace %s: %w", id, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Trace{}, fmt.Errorf("look up trace %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Trace{}, fmt.Errorf("look up trace %s: read the answer: %w", id, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return Trace{}, fmt.Errorf("%w: %s (%.200s)", ErrNotFound, id, bytes.TrimSpace(body))
	default:
		return Trace{}, fmt.Errorf("look up trace %s: status %d: %.500s", id, resp.StatusCode, body)
	}
	var doc struct {
		Result struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []Attr `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []Span `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Trace{}, fmt.Errorf("look up trace %s: decode: %w: %.500s", id, err, body)
	}
	var tr Trace
	for _, rs := range doc.Result.ResourceSpans {
		for _, a := range rs.Resource.Attributes {
			if a.Key == "service.name" {
				tr.Service = a.String()
			}
		}
		for _, ss := range rs.ScopeSpans {
			tr.Spans = append(tr.Spans, ss.Spans...)
		}
	}
	if len(tr.Spans) == 0 {
		return Trace{}, fmt.Errorf("%w: %s (200 with no span)", ErrNotFound, id)
	}
	return tr, nil
}

// Wait polls the query API until trace id holds a span for which done
// returns true (any span when done is nil), and fails the test after
// timeout. Every span must carry the trace's id.
func (j *Jaeger) Wait(t testing.TB, id string, timeout time.Duration, done func(Trace) bool) Trace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		tr, err := j.Lookup(ctx, id)
		if err == nil && (done == nil || done(tr)) {
			for _, s := range tr.Spans {
				if s.TraceID != id {
					t.Errorf("span %q of trace %s has trace id %s", s.Name, id, s.TraceID)
				}
			}
			return tr
		}
		if err == nil {
			err = fmt.Errorf("trace %s incomplete: spans %v", id, tr.Names())
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("trace %s not in Jaeger after %s: %v", id, timeout, last)
		case <-time.After(pollInterval):
		}
	}
}
