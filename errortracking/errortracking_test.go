package errortracking_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/problem"
)

func TestPanicInHandler(t *testing.T) {
	tests := []struct {
		name            string
		method, target  string
		wantTransaction string
		wantEndpoint    string
		wantOrderID     string
		wantType        string
		wantValue       string
		wantFrame       string // a function on the panic's stack
	}{
		{
			name: "string panic on a route", method: "GET", target: "/orders/panic-1?token=" + adminToken,
			wantTransaction: "GET /orders/:id", wantEndpoint: "/orders/:id", wantOrderID: "panic-1",
			wantType: "panic", wantValue: "boom panic-1", wantFrame: "orderHandler",
		},
		{
			name: "error panic", method: "GET", target: "/panic-error",
			wantTransaction: "GET /panic-error", wantEndpoint: "/panic-error",
			wantType: "*fmt.wrapError", wantValue: "wrapped: database is locked", wantFrame: "panicErrorHandler",
		},
		{
			name: "panic on no route", method: "GET", target: "/nowhere-panic/x",
			wantTransaction: "GET unmatched", wantEndpoint: "unmatched",
			wantType: "panic", wantValue: "no route and a panic",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, errortracking.Options{Environment: "test-env", Release: "v9.9.9"})
			rec := h.do(tt.method, tt.target, map[string]string{"X-Request-Id": "req-panic-1"}, "")
			if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != problem.ContentType {
				t.Fatalf("response = %d %q, want 500 %s", rec.Code, rec.Header().Get("Content-Type"), problem.ContentType)
			}
			if !strings.Contains(rec.Body.String(), `"request_id":"req-panic-1"`) {
				t.Errorf("problem body %s does not carry the request id", rec.Body)
			}
			// The metrics middleware sits outside recovery: it records the 500
			// the client got, and the panic is counted once.
			if got := h.metric("http_requests_total", map[string]string{"method": "GET", "endpoint": tt.wantEndpoint, "status_code": "500"}); got != 1 {
				t.Errorf(`http_requests_total{endpoint=%q,status_code="500"} = %v, want 1`, tt.wantEndpoint, got)
			}
			if got := h.metric("http_requests_total", map[string]string{"method": "GET", "endpoint": tt.wantEndpoint, "status_code": "200"}); got > 0 {
				t.Errorf(`http_requests_total{status_code="200"} = %v for a panicking request`, got)
			}
			if got := h.metric("panics_recovered_total", map[string]string{"endpoint": tt.wantEndpoint}); got != 1 {
				t.Errorf("panics_recovered_total{endpoint=%q} = %v, want 1", tt.wantEndpoint, got)
			}

			// The process keeps serving.
			if rec := h.do("GET", "/ok", nil, ""); rec.Code != http.StatusOK {
				t.Fatalf("after the panic, /ok = %d", rec.Code)
			}
			h.flush()
			evs := h.events()
			if len(evs) != 1 {
				t.Fatalf("got %d events, want exactly 1", len(evs))
			}
			ev := evs[0]
			checks := []struct{ what, got, want string }{
				{"level", ev.Level, "fatal"},
				{"transaction", ev.Transaction, tt.wantTransaction},
				{"environment", ev.Environment, "test-env"},
				{"release", ev.Release, "v9.9.9"},
				{"tag endpoint", ev.Tags["endpoint"], tt.wantEndpoint},
				{"tag request_id", ev.Tags["request_id"], "req-panic-1"},
				{"tag order_id", ev.Tags["order_id"], tt.wantOrderID},
				{"tag status_code", ev.Tags["status_code"], "500"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			if ev.Request == nil || ev.Request.Method != "GET" || ev.Request.URL != "http://example.com"+strings.SplitN(tt.target, "?", 2)[0] {
				t.Errorf("request = %+v, want GET and the URL without its query", ev.Request)
			}
			if len(ev.Exception) == 0 {
				t.Fatal("event has no exception")
			}
			top := ev.Exception[len(ev.Exception)-1]
			if top.Type != tt.wantType || top.Value != tt.wantValue {
				t.Errorf("exception = %s %q, want %s %q", top.Type, top.Value, tt.wantType, tt.wantValue)
			}
			if top.Mechanism == nil || top.Mechanism.Type != "gin" || top.Mechanism.Handled == nil || *top.Mechanism.Handled {
				t.Errorf("mechanism = %+v, want gin, unhandled", top.Mechanism)
			}
			if tt.wantFrame != "" {
				found := false
				for _, f := range top.Stacktrace.Frames {
					found = found || f.Function == tt.wantFrame
				}
				if !found {
					t.Errorf("the stack trace does not reach the panicking %s: %+v", tt.wantFrame, top.Stacktrace.Frames)
				}
			}
			if n := h.sink.Count("transaction"); n != 0 {
				t.Errorf("tracing is off but %d transactions arrived", n)
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	h := newHarness(t, errortracking.Options{})
	tests := []struct {
		name            string
		method, target  string
		wantStatus      int
		wantCaptured    bool
		wantTransaction string
		wantOrderID     string
		wantValue       string // substring of the exception value or message
	}{
		{name: "500 with an error", method: "GET", target: "/orders/fail-7", wantStatus: 500, wantCaptured: true,
			wantTransaction: "GET /orders/:id", wantOrderID: "fail-7", wantValue: "load order fail-7: database is locked"},
		{name: "order id set by the handler", method: "POST", target: "/orders", wantStatus: 500, wantCaptured: true,
			wantTransaction: "POST /orders", wantOrderID: "ord_0123456789abcdef", wantValue: "commit order"},
		{name: "503 with an error", method: "GET", target: "/status/503?attach=1", wantStatus: 503, wantCaptured: true,
			wantTransaction: "GET /status/:code", wantValue: "status 503"},
		{name: "bare 500", method: "GET", target: "/status/500", wantStatus: 500, wantCaptured: true,
			wantTransaction: "GET /status/:code", wantValue: "answered 500 with no error attached"},
		{name: "503 without an error (readiness)", method: "GET", target: "/status/503", wantStatus: 503},
		{name: "404 with an error", method: "GET", target: "/status/404?attach=1", wantStatus: 404},
		{name: "409 with an error", method: "GET", target: "/status/409?attach=1", wantStatus: 409},
		{name: "422 with an error", method: "GET", target: "/status/422?attach=1", wantStatus: 422},
		{name: "unmatched 404", method: "GET", target: "/nope", wantStatus: 404},
		{name: "405", method: "DELETE", target: "/ok", wantStatus: 405},
		{name: "200", method: "GET", target: "/orders/ok-1", wantStatus: 200},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.events())
			reqID := fmt.Sprintf("req-%d", i)
			rec := h.do(tt.method, tt.target, map[string]string{"X-Request-Id": reqID}, "")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			h.flush()
			evs := h.events()
			got := len(evs) - before
			want := 0
			if tt.wantCaptured {
				want = 1
			}
			if got != want {
				t.Fatalf("%d events captured, want %d", got, want)
			}
			if !tt.wantCaptured {
				return
			}
			ev := evs[len(evs)-1]
			if ev.Level != "error" || ev.Transaction != tt.wantTransaction {
				t.Errorf("level, transaction = %q, %q; want error, %q", ev.Level, ev.Transaction, tt.wantTransaction)
			}
			if ev.Tags["request_id"] != reqID || ev.Tags["order_id"] != tt.wantOrderID || ev.Tags["status_code"] != fmt.Sprint(tt.wantStatus) {
				t.Errorf("tags = %v, want request_id %s, order_id %q, status_code %d", ev.Tags, reqID, tt.wantOrderID, tt.wantStatus)
			}
			if ev.Tags["endpoint"] != strings.TrimPrefix(tt.wantTransaction, tt.method+" ") {
				t.Errorf("endpoint tag = %q, want the route of %q", ev.Tags["endpoint"], tt.wantTransaction)
			}
			text := ev.Message
			for _, e := range ev.Exception {
				text += " | " + e.Value
			}
			if !strings.Contains(text, tt.wantValue) {
				t.Errorf("event text %q does not contain %q", text, tt.wantValue)
			}
		})
	}
}

// TestNoCrossRequestTags runs failing requests in parallel: every event
// must carry the tags of its own request only.
func TestNoCrossRequestTags(t *testing.T) {
	h := newHarness(t, errortracking.Options{QueueSize: 1000})
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			path := fmt.Sprintf("/orders/fail-%d", i)
			if i%2 == 1 {
				path = fmt.Sprintf("/orders/panic-%d", i)
			}
			if rec := h.do("GET", path, map[string]string{"X-Request-Id": fmt.Sprintf("req-%d", i)}, ""); rec.Code != 500 {
				t.Errorf("%s = %d, want 500", path, rec.Code)
			}
		}()
		go func() { // happy requests in between must not add anything
			defer wg.Done()
			<-start
			if rec := h.do("GET", fmt.Sprintf("/orders/ok-%d", i), map[string]string{"X-Request-Id": fmt.Sprintf("ok-%d", i)}, ""); rec.Code != 200 {
				t.Errorf("ok request = %d", rec.Code)
			}
		}()
	}
	close(start)
	wg.Wait()
	h.flush()
	evs := h.events()
	if len(evs) != n {
		t.Fatalf("got %d events, want %d", len(evs), n)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		id := ev.Tags["order_id"]
		num := id[strings.IndexByte(id, '-')+1:]
		if ev.Tags["request_id"] != "req-"+num {
			t.Errorf("event for order %s carries request_id %q", id, ev.Tags["request_id"])
		}
		if ev.Request == nil || !strings.HasSuffix(ev.Request.URL, "/orders/"+id) {
			t.Errorf("event for order %s carries request %+v", id, ev.Request)
		}
		wantLevel := "error"
		if strings.HasPrefix(id, "panic") {
			wantLevel = "fatal"
		}
		if ev.Level != wantLevel {
			t.Errorf("event for %s has level %s, want %s", id, ev.Level, wantLevel)
		}
		if seen[id] {
			t.Errorf("two events for %s", id)
		}
		seen[id] = true
	}
}

// TestSecretsNeverLeave plants secrets in headers, query, body, error
// messages, panic values, span data, tags, contexts and breadcrumbs, with
// tracing on, then searches every byte the sink received.
func TestSecretsNeverLeave(t *testing.T) {
	sink := sentrytest.New(t, sentrytest.Options{})
	dsn := sink.DSN()
	h := newHarness(t, errortracking.Options{DSN: dsn, Secrets: []string{adminToken, webhookToken}, TracesSampleRate: 1})
	h.sink = sink
	headers := map[string]string{
		"Authorization": "Bearer " + adminToken,
		"Cookie":        "session=" + webhookToken,
		"X-Api-Key":     adminToken,
		"User-Agent":    "agent/" + webhookToken,
		"Content-Type":  "application/json",
	}
	query := "?token=" + url.QueryEscape(webhookToken) + "&dsn=" + url.QueryEscape(dsn)
	body := `{"note":"` + bodyMarker + `","token":"` + adminToken + `"}`
	if rec := h.do("GET", "/secret"+query, headers, body); rec.Code != 500 {
		t.Fatalf("/secret = %d", rec.Code)
	}
	if rec := h.do("POST", "/secret-panic"+query, headers, body); rec.Code != 500 {
		t.Fatalf("/secret-panic = %d", rec.Code)
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Message = "alert " + adminToken
	ev.Fingerprint = []string{"alert", webhookToken}
	ev.Tags["token"] = webhookToken
	ev.Contexts["alert"] = sentry.Context{"labels": map[string]any{"dsn": dsn, "list": []any{adminToken}}}
	ev.Breadcrumbs = []*sentry.Breadcrumb{{Message: "called with " + adminToken, Data: map[string]any{"auth": "Bearer " + webhookToken}}}
	ev.Request = &sentry.Request{URL: "http://svc/x?token=" + adminToken, Headers: map[string]string{"Authorization": adminToken}, Data: bodyMarker, Cookies: webhookToken}
	if id := h.tracker.CaptureEvent(ev); id == "" {
		t.Fatal("CaptureEvent refused the event")
	}
	h.tracker.Run(context.Background(), "job "+adminToken, func(context.Context) { panic("job " + webhookToken) })
	h.flush()

	envs := sink.Envelopes()
	if got := sink.Count("event"); got != 4 {
		t.Fatalf("got %d events, want 4", got)
	}
	if got := sink.Count("transaction"); got != 2 {
		t.Fatalf("got %d transactions, want 2", got)
	}
	forbidden := []string{adminToken, webhookToken, bodyMarker, mustJSONString(webhookToken), url.QueryEscape(webhookToken), "Bearer", "session="}
	filtered := 0
	for _, env := range envs {
		for _, s := range forbidden {
			if strings.Contains(string(env.Raw), s) {
				t.Errorf("envelope holds %q:\n%s", s, env.Raw)
			}
		}
		// The DSN and its key may only appear in the envelope header, which
		// is protocol (Sentry's own credential for Sentry), never in an item.
		for _, it := range env.Items {
			for _, s := range []string{dsn, sentrytest.PublicKey} {
				if strings.Contains(string(it.Payload), s) {
					t.Errorf("%s item holds %q:\n%s", it.Type, s, it.Payload)
				}
			}
			filtered += strings.Count(string(it.Payload), errortracking.Filtered)
			if it.Type != "event" {
				continue
			}
			for _, hdr := range []string{"Authorization", "Cookie", "X-Api-Key"} {
				if strings.Contains(string(it.Payload), `"`+hdr+`"`) {
					t.Errorf("event carries the %s header: %s", hdr, it.Payload)
				}
			}
		}
	}
	// The secrets were there to be found: the scrubber replaced them.
	if filtered < 10 {
		t.Errorf("only %d %s markers: the planted secrets did not reach the events", filtered, errortracking.Filtered)
	}
	if d := h.drops(); sum(d) != 0 {
		t.Errorf("events dropped: %v", d)
	}
}

func TestFlushDeliversLastEvent(t *testing.T) {
	h := newHarness(t, errortracking.Options{})
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelWarning
	ev.Message = "captured just before shutdown"
	ev.Fingerprint = []string{"alertname", "HighErrorRate"}
	id := h.tracker.CaptureEvent(ev)
	if id == "" {
		t.Fatal("CaptureEvent returned no id")
	}
	h.flush() // no waiting: Flush alone must have delivered it
	evs := h.events()
	if len(evs) != 1 || evs[0].EventID != string(id) || evs[0].Message != ev.Message ||
		strings.Join(evs[0].Fingerprint, ",") != "alertname,HighErrorRate" || evs[0].Level != "warning" {
		t.Fatalf("after Flush the sink holds %+v, want the event %s with its fingerprint", evs, id)
	}
	h.tracker.Close()
	h.tracker.Close() // idempotent
	if id := h.tracker.CaptureEvent(sentry.NewEvent()); id != "" {
		if got := h.drops()[errortracking.DropShutdown]; got != 1 {
			t.Errorf("an event captured after Close: shutdown drops = %v, want 1", got)
		}
	}
	if h.sink.Count("event") != 1 {
		t.Errorf("an event captured after Close was delivered")
	}
}

func TestBackgroundPanics(t *testing.T) {
	tests := []struct {
		name  string
		run   func(tr *errortracking.Tracker, name string, fn func(context.Context)) // starts fn under the tracker
		value any
		want  string
	}{
		{"Go with a string", func(tr *errortracking.Tracker, name string, fn func(context.Context)) {
			tr.Go(context.Background(), name, fn)
		}, "worker exploded", "worker exploded"},
		{"Run with an error", func(tr *errortracking.Tracker, name string, fn func(context.Context)) {
			if tr.Run(context.Background(), name, fn) {
				t.Error("Run reported success for a panicking function")
			}
		}, fmt.Errorf("job: %w", errDB), "job: database is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, errortracking.Options{})
			tt.run(h.tracker, "inventory-refresher", func(context.Context) { panic(tt.value) })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			evs, err := h.sink.WaitEvents(ctx, "event", 1)
			if err != nil {
				t.Fatal(err)
			}
			ev := evs[0]
			top := ev.Exception[len(ev.Exception)-1]
			if ev.Level != "fatal" || ev.Tags["goroutine"] != "inventory-refresher" || top.Value != tt.want {
				t.Errorf("event = level %s, tags %v, value %q; want fatal, goroutine tag, %q", ev.Level, ev.Tags, top.Value, tt.want)
			}
			if top.Mechanism == nil || top.Mechanism.Type != "goroutine" || top.Mechanism.Handled == nil || *top.Mechanism.Handled {
				t.Errorf("mechanism = %+v, want goroutine, unhandled", top.Mechanism)
			}
			if _, ok := ev.Tags["endpoint"]; ok {
				t.Errorf("a background event carries request tags: %v", ev.Tags)
			}
		})
	}
	t.Run("no panic, no event", func(t *testing.T) {
		h := newHarness(t, errortracking.Options{})
		ran := false
		if !h.tracker.Run(context.Background(), "fine", func(context.Context) { ran = true }) || !ran {
			t.Fatal("Run of a normal function did not run it or reported failure")
		}
		h.flush()
		if n := len(h.events()); n != 0 {
			t.Errorf("%d events for a function that returned normally", n)
		}
	})
}

// TestSentryUnavailable: a Sentry that refuses connections, rate-limits,
// or never answers must not slow requests down, and every event it does
// not take is counted.
func TestSentryUnavailable(t *testing.T) {
	const requests = 50
	tests := []struct {
		name       string
		dsn        func(t *testing.T) (string, *sentrytest.Sink)
		opts       errortracking.Options
		wantReason string
	}{
		{"connection refused", func(t *testing.T) (string, *sentrytest.Sink) {
			return sentrytest.DeadDSN(t), nil
		}, errortracking.Options{}, errortracking.DropNetworkError},
		{"429", func(t *testing.T) (string, *sentrytest.Sink) {
			s := sentrytest.New(t, sentrytest.Options{Status: http.StatusTooManyRequests, RetryAfter: "60"})
			return s.DSN(), s
		}, errortracking.Options{}, errortracking.DropRateLimited},
		{"never answers", func(t *testing.T) (string, *sentrytest.Sink) {
			hold := make(chan struct{})
			s := sentrytest.New(t, sentrytest.Options{Hold: hold})
			t.Cleanup(func() { close(hold) })
			return s.DSN(), s
		}, errortracking.Options{QueueSize: 2, HTTPTimeout: 200 * time.Millisecond}, errortracking.DropQueueFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, sink := tt.dsn(t)
			opts := tt.opts
			opts.DSN = dsn
			h := newHarness(t, opts)
			start := time.Now()
			for i := range requests {
				if rec := h.do("GET", fmt.Sprintf("/orders/panic-%d", i), nil, ""); rec.Code != 500 {
					t.Fatalf("request %d = %d, want 500", i, rec.Code)
				}
			}
			// Generous for slow CI; a request that waited for Sentry would
			// take the 200ms timeout at least, 10s for all of them.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%d requests took %v with Sentry unavailable", requests, d)
			}
			h.flush()
			d := h.drops()
			if d[tt.wantReason] == 0 {
				t.Errorf("no drops counted as %s: %v", tt.wantReason, d)
			}
			// Every event is accounted for: none can have been delivered.
			if sum(d) != requests {
				t.Errorf("drops = %v (sum %v), want every one of the %d events counted", d, sum(d), requests)
			}
			if sink != nil && tt.wantReason == errortracking.DropRateLimited && sink.Requests() >= requests/2 {
				t.Errorf("the tracker kept sending (%d requests) after Sentry asked it to back off", sink.Requests())
			}
			if got := h.metric("panics_recovered_total", map[string]string{"endpoint": "/orders/:id"}); got != requests {
				t.Errorf("panics_recovered_total = %v, want %d", got, requests)
			}
		})
	}
}

// TestDisabled: without a DSN, the same code paths run and nothing is sent
// anywhere, not even to a SENTRY_DSN the environment names.
func TestDisabled(t *testing.T) {
	sink := sentrytest.New(t, sentrytest.Options{})
	t.Setenv("SENTRY_DSN", sink.DSN())
	reg := prometheus.NewRegistry()
	tr, err := errortracking.New(errortracking.Options{Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.Enabled() {
		t.Error("Enabled() = true without a DSN")
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(tr.Middleware())
	e.GET("/p", func(*gin.Context) { panic("disabled but recovered") })
	e.GET("/e", func(c *gin.Context) { _ = c.Error(errDB); c.Status(500) })
	for _, path := range []string{"/p", "/e"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 500 {
			t.Errorf("%s = %d, want 500", path, rec.Code)
		}
	}
	tr.Run(context.Background(), "bg", func(context.Context) { panic("bg") })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if !tr.Flush(ctx) {
		t.Error("Flush of a disabled tracker did not return at once")
	}
	if sink.Requests() != 0 {
		t.Errorf("a disabled tracker sent %d requests to the SENTRY_DSN of the environment", sink.Requests())
	}
	if got := metricValue(t, reg, "sentry_events_dropped_total", map[string]string{"reason": "queue_full"}); got != 0 {
		t.Errorf("queue_full drops = %v, want 0 (disabled is not dropping)", got)
	}
}

func TestTracing(t *testing.T) {
	const traceID, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	h := newHarness(t, errortracking.Options{TracesSampleRate: 1})
	hdr := map[string]string{"sentry-trace": traceID + "-" + parentSpan + "-1", "baggage": "sentry-trace_id=" + traceID + ",sentry-sample_rate=1"}
	if rec := h.do("GET", "/orders/ok-1", hdr, ""); rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	if rec := h.do("GET", "/orders/panic-2", nil, ""); rec.Code != 500 {
		t.Fatalf("status = %d", rec.Code)
	}
	h.flush()
	txs, err := h.sink.Events("transaction")
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 2 {
		t.Fatalf("got %d transactions, want 2", len(txs))
	}
	for _, tx := range txs {
		if tx.Transaction != "GET /orders/:id" {
			t.Errorf("transaction name = %q, want GET /orders/:id", tx.Transaction)
		}
	}
	if got := txs[0].Contexts["trace"]; got["trace_id"] != traceID || got["parent_span_id"] != parentSpan || got["status"] != "ok" {
		t.Errorf("first transaction's trace = %v, want trace %s, parent %s, ok", got, traceID, parentSpan)
	}
	if got := txs[1].Contexts["trace"]; got["status"] != "internal_error" {
		t.Errorf("panicking transaction's status = %v, want internal_error", got["status"])
	}
	evs := h.events()
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	if evs[0].Contexts["trace"]["trace_id"] != txs[1].Contexts["trace"]["trace_id"] {
		t.Errorf("the panic event (trace %v) is not linked to its transaction (trace %v)",
			evs[0].Contexts["trace"]["trace_id"], txs[1].Contexts["trace"]["trace_id"])
	}
}

// TestHappyPathAllocs: with tracing off, the middleware adds no allocation
// to a request that succeeds.
func TestHappyPathAllocs(t *testing.T) {
	tr, err := errortracking.New(errortracking.Options{DSN: sentrytest.DeadDSN(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	gin.SetMode(gin.ReleaseMode)
	ok := func(c *gin.Context) { c.Status(http.StatusNoContent) }
	bare := gin.New()
	bare.GET("/orders/:id", ok)
	tracked := gin.New()
	tracked.Use(tr.Middleware())
	tracked.GET("/orders/:id", ok)

	req := httptest.NewRequest("GET", "/orders/ord_1", nil)
	w := &discardWriter{h: http.Header{}}
	allocs := func(e *gin.Engine) float64 {
		return testing.AllocsPerRun(500, func() { e.ServeHTTP(w, req) })
	}
	base, got := allocs(bare), allocs(tracked)
	if got > base && !raceEnabled {
		t.Errorf("the middleware adds %v allocations per request (bare %v, with it %v), want 0", got-base, base, got)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	tr, err := errortracking.New(errortracking.Options{DSN: sentrytest.DeadDSN(b), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	gin.SetMode(gin.ReleaseMode)
	for _, bc := range []struct {
		name string
		mw   []gin.HandlerFunc
	}{{"bare", nil}, {"tracker", []gin.HandlerFunc{tr.Middleware()}}} {
		b.Run(bc.name, func(b *testing.B) {
			e := gin.New()
			e.Use(bc.mw...)
			e.GET("/orders/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })
			req := httptest.NewRequest("GET", "/orders/ord_1", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(w, req)
			}
		})
	}
}

// discardWriter is an http.ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func TestNewRejects(t *testing.T) {
	const secretDSN = "https://" + adminToken + "@sentry.example.com" // no project
	tests := []struct {
		name    string
		opts    errortracking.Options
		wantErr string
	}{
		{"DSN without a project", errortracking.Options{DSN: secretDSN}, "not a valid Sentry DSN"},
		{"DSN with a bad scheme", errortracking.Options{DSN: "ftp://" + adminToken + "@h/1"}, "not a valid Sentry DSN"},
		{"unparsable DSN", errortracking.Options{DSN: "http://" + adminToken + "@h:port/1"}, "not a valid Sentry DSN"},
		{"sample rate above 1", errortracking.Options{TracesSampleRate: 1.5}, "TracesSampleRate"},
		{"negative sample rate", errortracking.Options{TracesSampleRate: -0.1}, "TracesSampleRate"},
		{"negative timeout", errortracking.Options{HTTPTimeout: -time.Second}, "HTTPTimeout"},
		{"negative queue", errortracking.Options{QueueSize: -1}, "QueueSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := errortracking.New(tt.opts)
			if err == nil {
				tr.Close()
				t.Fatalf("New(%+v) succeeded", tt.name)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), adminToken) {
				t.Errorf("the error leaks the DSN's key: %q", err)
			}
		})
	}
	t.Run("registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		tr, err := errortracking.New(errortracking.Options{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var are prometheus.AlreadyRegisteredError
		if _, err := errortracking.New(errortracking.Options{Registerer: reg}); !errors.As(err, &are) {
			t.Errorf("second New on one registry: error = %v, want AlreadyRegisteredError", err)
		}
	})
}

func mustJSONString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<', '>', '&':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestClientSampledFlagDoesNotForceTracing: a client's sentry-trace header
// with the sampled flag set must not make the service record and send a
// transaction; the service's own rate decides (SPEC §11).
func TestClientSampledFlagDoesNotForceTracing(t *testing.T) {
	h := newHarness(t, errortracking.Options{TracesSampleRate: 1e-9})
	const requests = 200
	for i := range requests {
		hdr := map[string]string{"sentry-trace": fmt.Sprintf("%032x-%016x-1", i+1, i+1)}
		if rec := h.do("GET", "/ok", hdr, ""); rec.Code != http.StatusOK {
			t.Fatalf("status = %d", rec.Code)
		}
	}
	h.flush()
	if n := h.sink.Count("transaction"); n != 0 {
		t.Errorf("%d client-sampled requests made %d transactions at a sample rate of 1e-9, want 0", requests, n)
	}
}

// TestTraceFloodCannotCrowdOutPanic: with a slow Sentry and a small queue,
// a flood of traced requests fills the transaction budget; a panic that
// follows is still delivered, because errors have a queue of their own and
// go first.
func TestTraceFloodCannotCrowdOutPanic(t *testing.T) {
	sink := sentrytest.New(t, sentrytest.Options{Delay: 20 * time.Millisecond})
	h := newHarness(t, errortracking.Options{DSN: sink.DSN(), TracesSampleRate: 1, QueueSize: 10})
	h.sink = sink
	const flood = 300
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range flood / 4 {
				h.do("GET", "/ok", nil, "")
			}
		}()
	}
	wg.Wait()
	if rec := h.do("GET", "/orders/panic-flood", nil, ""); rec.Code != http.StatusInternalServerError {
		t.Fatalf("panic request: status %d", rec.Code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs, err := sink.WaitEvents(ctx, "event", 1)
	if err != nil {
		t.Fatalf("the panic event never arrived: %v (drops %v)", err, h.drops())
	}
	if evs[0].Level != "fatal" || evs[0].Transaction != "GET /orders/:id" {
		t.Errorf("event: level %q, transaction %q; want the fatal panic of GET /orders/:id", evs[0].Level, evs[0].Transaction)
	}
	if d := h.drops(); d[errortracking.DropQueueFull] == 0 {
		t.Errorf("the flood did not fill the transaction queue (drops %v): the test proves nothing", d)
	}
	t.Logf("flood of %d traced requests, then a panic: panic delivered; drops %v; transactions delivered %d",
		flood, h.drops(), sink.Count("transaction"))
}
