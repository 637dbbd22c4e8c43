package tests

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/prometheus/config"

	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/testkit"
	"github.com/ordersvc/ordersvc/internal/testkit/jaegertest"
	"github.com/ordersvc/ordersvc/tracing"
)

// Bounds of the traced topology's phases.
const (
	// traceTimeout bounds a trace's arrival in Jaeger: one batch timeout
	// of the service's exporter plus an export, many times over.
	traceTimeout = 30 * time.Second
	// exemplarTimeout bounds an exemplar's arrival in Prometheus: a
	// scrape (every second) after the request, many times over.
	exemplarTimeout = 30 * time.Second
	// injectedLatency is the slow request's injected latency.
	injectedLatency = 1500 * time.Millisecond
)

// clientSpanID is the parent span id of every traceparent the test sends,
// as if a traced client called the service.
const clientSpanID = "00f067aa0ba902b7"

// serviceName is OTEL_SERVICE_NAME of the traced service.
const serviceName = "ordersvc-e2e"

// TestTracing proves issue #12 against a real trace backend: the service
// exports to Jaeger v2 over OTLP/HTTP, Prometheus (exemplar storage on)
// scrapes it with OpenMetrics, and a Sentry sink receives its events. A
// request slowed by an injected latency, sent with the test's own
// traceparent, is then found by its trace id in Jaeger (its server span),
// in Prometheus' exemplars of the latency histogram and the request
// counter, and in the service's JSON access log; an injected panic's trace
// id is on its Sentry event too. Finally a second service process with
// OTEL_TRACES_SAMPLER_ARG=0 gets a client-sampled traceparent and exports
// nothing: the client's flag does not force a trace.
func TestTracing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Jaeger, Prometheus and the service")
	}
	ph := newPhases(t)
	j := jaegertest.Start(t)
	ph.done("start Jaeger v2 (in-memory storage, loopback ports)")

	s := startStackWith(t, stackOptions{
		serviceEnv: []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + j.Endpoint(),
			"OTEL_SERVICE_NAME=" + serviceName,
		},
		prometheusArgs:  []string{"--enable-feature=exemplar-storage"},
		noAlertmanagers: true,
	})
	s.checkScrapeProtocols(t)
	ph.done("start the service (OTLP to Jaeger), Prometheus with exemplar storage, the Sentry sink")

	// --- A slow request ----------------------------------------------------
	s.setFaults(map[string]any{"latency_ms": injectedLatency.Milliseconds(), "routes": []string{"/inventory"}})
	slow := newTraceID(t)
	t.Logf("slow request: trace id %s", slow)
	resp, took := s.tracedGet(t, "/inventory?limit=5", slow)
	if resp.StatusCode != http.StatusOK || took < injectedLatency {
		t.Fatalf("slow GET /inventory: status %d after %s; want 200 after at least %s", resp.StatusCode, took, injectedLatency)
	}
	server := s.checkJaegerTrace(t, j, slow, http.StatusOK)
	if d := server.Duration(); d < injectedLatency {
		t.Errorf("server span lasted %s, want at least the injected %s", d, injectedLatency)
	}
	s.checkExemplars(t, slow)
	s.checkAccessLog(t, slow, server.SpanID, http.StatusOK)
	ph.done(fmt.Sprintf("slow request (%s) trace %s: Jaeger, exemplars, access log", took.Round(time.Millisecond), slow))

	// --- A panic -----------------------------------------------------------
	s.setFaults(map[string]any{"panic_rate": 1, "routes": []string{"/inventory"}})
	panicked := newTraceID(t)
	t.Logf("panicking request: trace id %s", panicked)
	if resp, _ := s.tracedGet(t, "/inventory?limit=5", panicked); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /inventory with panic_rate 1: status %d, want 500", resp.StatusCode)
	}
	s.setFaults(map[string]any{})
	s.checkSentryTrace(t, panicked)
	server = s.checkJaegerTrace(t, j, panicked, http.StatusInternalServerError)
	s.checkExemplars(t, panicked)
	s.checkAccessLog(t, panicked, server.SpanID, http.StatusInternalServerError)
	ph.done(fmt.Sprintf("panic trace %s: Sentry event, Jaeger, exemplars, access log", panicked))

	// --- Sampler ratio 0 ---------------------------------------------------
	s.checkUnsampled(t, j)
	ph.done("OTEL_TRACES_SAMPLER_ARG=0: a client-sampled traceparent exports nothing")
}

// newTraceID returns a random W3C trace id (32 hex digits, not all zero).
func newTraceID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	for b == [16]byte{} {
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(b[:])
}

// traceparent is a W3C traceparent of trace id from the test's client
// span, with the sampled flag.
func traceparent(id string) string { return "00-" + id + "-" + clientSpanID + "-01" }

// tracedGet sends GET path to the service with the traceparent of trace
// id, and returns the answer (body read and closed) and how long it took.
func (s *stack) tracedGet(t *testing.T, path, id string) (*http.Response, time.Duration) {
	t.Helper()
	return tracedGetURL(t, s.svcURL+path, id)
}

// tracedGetURL is tracedGet for any service's URL.
func tracedGetURL(t *testing.T, u, id string) (*http.Response, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", traceparent(id))
	start := time.Now()
	resp, err := testkit.HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, time.Since(start)
}

// checkScrapeProtocols reads the configuration Prometheus runs
// (/api/v1/status/config) and checks that the ordersvc job asks for
// OpenMetrics first: exemplars travel only in OpenMetrics (or protobuf),
// never in the classic text format. Prometheus 3 does so by default; the
// repository's prometheus.yml must not change it.
func (s *stack) checkScrapeProtocols(t *testing.T) {
	t.Helper()
	var r struct {
		Data struct {
			YAML string `json:"yaml"`
		} `json:"data"`
	}
	if err := getJSON(s.promURL+"/api/v1/status/config", "", &r); err != nil {
		t.Fatalf("Prometheus' running config: %v", err)
	}
	cfg, err := promconfig.Load(r.Data.YAML, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Prometheus' running config does not load: %v", err)
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "ordersvc" {
			continue
		}
		protos := sc.ScrapeProtocols
		if len(protos) == 0 {
			protos = cfg.GlobalConfig.ScrapeProtocols
		}
		t.Logf("Prometheus scrapes ordersvc asking for %v", protos)
		exemplars := []promconfig.ScrapeProtocol{promconfig.OpenMetricsText1_0_0, promconfig.OpenMetricsText0_0_1, promconfig.PrometheusProto}
		if len(protos) == 0 || !slices.Contains(exemplars, protos[0]) {
			t.Errorf("the ordersvc job's preferred scrape protocol is %v: no exemplars would be scraped", protos)
		}
		return
	}
	t.Fatal("Prometheus runs no ordersvc job")
}

// checkJaegerTrace waits for trace id in Jaeger and checks its server
// span: GET /inventory, a server span of the configured service, child of
// the test's client span, with the answer's status; and every database
// span (db.system), if any, a child of it. It returns the server span.
func (s *stack) checkJaegerTrace(t *testing.T, j *jaegertest.Jaeger, id string, status int) jaegertest.Span {
	t.Helper()
	tr := j.Wait(t, id, traceTimeout, func(tr jaegertest.Trace) bool {
		_, ok := tr.Span("GET /inventory")
		return ok
	})
	server, _ := tr.Span("GET /inventory")
	t.Logf("Jaeger: trace %s at %s: service %q, spans %v; server span %s, %s, attributes %v",
		id, j.TraceURL(id), tr.Service, tr.Names(), server.SpanID, server.Duration().Round(time.Millisecond), attrs(server))
	if tr.Service != serviceName {
		t.Errorf("trace %s: service.name %q, want %q", id, tr.Service, serviceName)
	}
	if !server.KindIs(2, "SPAN_KIND_SERVER") || server.ParentSpanID != clientSpanID {
		t.Errorf("trace %s: server span kind %v parent %q; want a server span, child of the client's %s", id, server.Kind, server.ParentSpanID, clientSpanID)
	}
	if got, _ := server.Attr("http.response.status_code"); got != strconv.Itoa(status) {
		t.Errorf("trace %s: server span http.response.status_code %q, want %d", id, got, status)
	}
	// A 5xx marks the server span as an error (OTel's HTTP server
	// convention); a 2xx leaves its status unset.
	isErr := server.Status.Code == float64(2) || server.Status.Code == "STATUS_CODE_ERROR"
	if isErr != (status >= 500) {
		t.Errorf("trace %s: server span status %v for a %d answer", id, server.Status.Code, status)
	}
	if w, ok := server.Attr("@jaeger@warnings"); ok {
		t.Logf("trace %s: Jaeger's warnings on the server span: %s", id, w)
	}
	var db []string
	for _, sp := range tr.Spans {
		system, ok := sp.Attr("db.system")
		if !ok {
			continue
		}
		db = append(db, fmt.Sprintf("%s (db.system %s)", sp.Name, system))
		if sp.ParentSpanID != server.SpanID {
			t.Errorf("trace %s: database span %q has parent %q, want the server span %s", id, sp.Name, sp.ParentSpanID, server.SpanID)
		}
	}
	switch {
	case len(db) > 0:
		t.Logf("trace %s: database spans %v, children of the server span", id, db)
	case status == http.StatusOK:
		// A request the handler served read the catalog: its query must be
		// in the trace.
		t.Errorf("trace %s: no database span (db.system) under a served GET /inventory", id)
	default:
		t.Logf("trace %s: no database span: the request failed before the handler", id)
	}
	return server
}

// attrs formats a span's attributes for the log.
func attrs(sp jaegertest.Span) string {
	var b strings.Builder
	for i, a := range sp.Attributes {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(a.Key + "=" + a.String())
	}
	return b.String()
}

// promExemplars is one series of /api/v1/query_exemplars.
type promExemplars struct {
	SeriesLabels map[string]string `json:"seriesLabels"`
	Exemplars    []struct {
		Labels    map[string]string `json:"labels"`
		Value     string            `json:"value"`
		Timestamp float64           `json:"timestamp"`
	} `json:"exemplars"`
}

// checkExemplars waits until Prometheus returns an exemplar with trace id
// on http_request_duration_seconds_bucket and on http_requests_total, of
// GET /inventory.
func (s *stack) checkExemplars(t *testing.T, id string) {
	t.Helper()
	for _, metric := range []string{"http_request_duration_seconds_bucket", "http_requests_total"} {
		q := metric + `{job="ordersvc", endpoint="/inventory", method="GET"}`
		var found string
		testkit.WaitFor(t, "exemplar of trace "+id+" on "+metric, exemplarTimeout, func() (bool, string) {
			var r struct {
				Data []promExemplars `json:"data"`
			}
			end := time.Now().Add(time.Minute)
			u := s.promURL + "/api/v1/query_exemplars?query=" + url.QueryEscape(q) +
				"&start=" + strconv.FormatInt(s.started.Unix(), 10) + "&end=" + strconv.FormatInt(end.Unix(), 10)
			if err := getJSON(u, "", &r); err != nil {
				return false, err.Error()
			}
			var ids []string
			for _, series := range r.Data {
				for _, ex := range series.Exemplars {
					if ex.Labels["trace_id"] == id {
						found = fmt.Sprintf("series %v, value %s", series.SeriesLabels, ex.Value)
						return true, ""
					}
					ids = append(ids, ex.Labels["trace_id"])
				}
			}
			return false, fmt.Sprintf("%d series, exemplar trace ids %v", len(r.Data), ids)
		})
		t.Logf("Prometheus: exemplar of trace %s on %s: %s", id, metric, found)
	}
}

// checkAccessLog finds the service's access log line ("request") of trace
// id and checks it names the server span, the route and the status.
func (s *stack) checkAccessLog(t *testing.T, id, spanID string, status int) {
	t.Helper()
	var line map[string]any
	testkit.WaitFor(t, "access log line of trace "+id, 10*time.Second, func() (bool, string) {
		lines := s.service.JSONLogLines("request")
		line = findLogLine(lines, id)
		return line != nil, fmt.Sprintf("%d access log lines, none with trace_id %s", len(lines), id)
	})
	t.Logf("service log: access line of trace %s: %v", id, line)
	if line["span_id"] != spanID || line["route"] != "/inventory" || line["status"] != float64(status) {
		t.Errorf("access log line of trace %s: span_id %v route %v status %v; want %s /inventory %d", id, line["span_id"], line["route"], line["status"], spanID, status)
	}
}

// checkSentryTrace waits for the panic's Sentry event and checks it
// carries trace id as its trace_id tag and in its trace context.
func (s *stack) checkSentryTrace(t *testing.T, id string) {
	t.Helper()
	evs, _, err := waitSentryEvents(s.sink, 1, sentryTimeout, func(ev sentrytest.Event) bool {
		return ev.Level == "fatal" && ev.Transaction == "GET /inventory"
	})
	if err != nil {
		t.Fatalf("the panic's Sentry event: %v", err)
	}
	ev := evs[0]
	traceCtx, _ := ev.Contexts["trace"]["trace_id"].(string)
	t.Logf("Sentry sink: panic event %s (level %s, transaction %q): tag trace_id %q, contexts.trace.trace_id %q",
		ev.EventID, ev.Level, ev.Transaction, ev.Tags["trace_id"], traceCtx)
	if ev.Tags["trace_id"] != id {
		t.Errorf("panic event tag trace_id %q, want %s", ev.Tags["trace_id"], id)
	}
	if traceCtx != id {
		t.Errorf("panic event contexts.trace.trace_id %q, want %s", traceCtx, id)
	}
}

// checkUnsampled runs a second service with OTEL_TRACES_SAMPLER_ARG=0,
// sends it a client-sampled traceparent and proves nothing was exported:
// its spans are flushed by a graceful stop, and Jaeger still does not know
// the trace, while a trace the first service exports afterwards arrives
// (so "not found" is not a Jaeger that stopped taking spans). Its
// OpenMetrics exposition carries no exemplar of the trace either.
func (s *stack) checkUnsampled(t *testing.T, j *jaegertest.Jaeger) {
	t.Helper()
	svc := testkit.StartServiceProc(t, testkit.ServiceProcOptions{
		Name: "ordersvc-ratio0",
		Env: []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + j.Endpoint(),
			"OTEL_SERVICE_NAME=" + serviceName,
			"OTEL_TRACES_SAMPLER_ARG=0",
		},
	})
	id := newTraceID(t)
	t.Logf("sampler ratio 0: client-sampled trace id %s", id)
	if resp, _ := tracedGetURL(t, svc.URL+"/inventory?limit=5", id); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /inventory on the ratio-0 service: status %d", resp.StatusCode)
	}
	om := scrapeOpenMetrics(t, svc.URL+"/metrics")
	if strings.Contains(om, id) {
		t.Errorf("the ratio-0 service's /metrics holds an exemplar of the unsampled trace %s", id)
	}
	if !strings.Contains(om, "# EOF") {
		t.Errorf("the ratio-0 service's /metrics is not OpenMetrics:\n%.500s", om)
	}
	// A flush interval, then a graceful stop, which flushes what is left.
	time.Sleep(2 * tracing.DefaultBatchTimeout)
	if err := svc.Stop(); err != nil {
		t.Errorf("the ratio-0 service did not stop cleanly: %v", err)
	}
	if line := findLogLine(svc.JSONLogLines("request"), id); line != nil {
		t.Logf("ratio-0 service log: access line of trace %s: %v", id, line)
	}

	control := newTraceID(t)
	if resp, _ := s.tracedGet(t, "/inventory?limit=5", control); resp.StatusCode != http.StatusOK {
		t.Fatalf("control GET /inventory: status %d", resp.StatusCode)
	}
	j.Wait(t, control, traceTimeout, nil)
	t.Logf("Jaeger: control trace %s of the ratio-1 service arrived after the ratio-0 service stopped", control)

	_, err := j.Lookup(t.Context(), id)
	if !errors.Is(err, jaegertest.ErrNotFound) {
		t.Errorf("Jaeger lookup of the unsampled trace %s: %v, want not found", id, err)
		return
	}
	t.Logf("Jaeger: %s → %v", j.TraceURL(id), err)
}

// findLogLine returns the first log line of trace id, or nil.
func findLogLine(lines []map[string]any, id string) map[string]any {
	for _, l := range lines {
		if l["trace_id"] == id {
			return l
		}
	}
	return nil
}

// scrapeOpenMetrics scrapes url asking for OpenMetrics, as Prometheus
// does, and returns the exposition.
func scrapeOpenMetrics(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := testkit.HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %v", u, resp.StatusCode, err)
	}
	return string(b)
}
