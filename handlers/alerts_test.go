package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/internal/app"
)

// payload builds an Alertmanager v4 webhook body.
func payload(status string, alerts ...string) string {
	return fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0,"status":%q,
		"receiver":"paging","groupLabels":{"alertname":"HighErrorRate","job":"ordersvc","severity":"critical"},
		"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093","alerts":[%s],"someFutureField":1}`,
		status, strings.Join(alerts, ","))
}

func alertJSON(status, fingerprint, name, severity string) string {
	ends := "0001-01-01T00:00:00Z"
	if status == "resolved" {
		ends = "2026-11-21T10:05:00Z"
	}
	return fmt.Sprintf(`{"status":%q,"labels":{"alertname":%q,"job":"ordersvc","severity":%q},
		"annotations":{"summary":"s","runbook_url":"r"},"startsAt":"2026-11-21T10:00:00.123456789Z","endsAt":%q,
		"generatorURL":"http://prom/graph","fingerprint":%q}`, status, name, severity, ends, fingerprint)
}

func (e *env) webhook(body string) int {
	return e.do("POST", "/webhooks/alertmanager", body, "Authorization", "Bearer "+webhookToken).Code
}

func (e *env) alerts(query string) []ordersvc.Alert {
	e.t.Helper()
	w := e.admin("GET", "/alerts"+query, "")
	if w.Code != 200 {
		e.t.Fatalf("GET /alerts%s = %d %s", query, w.Code, w.Body)
	}
	return decode[struct {
		Alerts []ordersvc.Alert `json:"alerts"`
	}](e.t, w).Alerts
}

func TestWebhookStoresOnceAndResolves(t *testing.T) {
	e := newEnv(t)

	firing := payload("firing", alertJSON("firing", "a1b2c3", "HighErrorRate", "critical"))
	for i := 0; i < 3; i++ {
		if code := e.webhook(firing); code != 200 {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	got := e.alerts("")
	if len(got) != 1 || got[0].Deliveries != 3 || got[0].Status != "firing" || got[0].EndsAt != nil {
		t.Fatalf("after 3 deliveries: %+v", got)
	}
	if got[0].Labels["alertname"] != "HighErrorRate" || got[0].Annotations["summary"] != "s" || got[0].Receiver != "paging" {
		t.Errorf("stored alert = %+v", got[0])
	}
	if v := e.metric("alerts_received_total|alertname=HighErrorRate|severity=critical|status=firing"); v != 1 {
		t.Errorf("alerts_received_total firing = %v, want 1 (duplicates not counted)", v)
	}
	if n := e.forwarded(); n != 1 {
		t.Errorf("forwarded %d times, want 1", n)
	}

	resolved := payload("resolved", alertJSON("resolved", "a1b2c3", "HighErrorRate", "critical"))
	e.webhook(resolved)
	e.webhook(resolved)
	// A late firing copy from the slower Alertmanager must not reopen it.
	e.webhook(firing)
	got = e.alerts("")
	if len(got) != 1 || got[0].Status != "resolved" || got[0].EndsAt == nil || got[0].Deliveries != 6 {
		t.Fatalf("after resolve: %+v", got)
	}
	if v := e.metric("alerts_received_total|alertname=HighErrorRate|severity=critical|status=resolved"); v != 1 {
		t.Errorf("alerts_received_total resolved = %v, want 1", v)
	}
	if n := e.forwarded(); n != 1 {
		t.Errorf("a resolved alert was forwarded: %d", n)
	}
	if len(e.alerts("?status=firing")) != 0 || len(e.alerts("?status=resolved")) != 1 {
		t.Error("status filter")
	}
	// A warning is stored but not forwarded.
	e.webhook(payload("firing", alertJSON("firing", "ffff", "SlowResponseTime", "warning")))
	if n := e.forwarded(); n != 1 {
		t.Errorf("a warning was forwarded")
	}
	if list := e.alerts("?limit=1"); len(list) != 1 || list[0].Fingerprint != "ffff" {
		t.Errorf("newest first with limit: %+v", list)
	}
}

func TestWebhookConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	body := payload("firing", alertJSON("firing", "c0ffee", "TargetDown", "critical"), alertJSON("firing", "beef", "HighErrorRate", "critical"))
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := 0; i < 20; i++ { // two clustered Alertmanagers, retrying
		wg.Add(1)
		go func() { defer wg.Done(); codes <- e.webhook(body) }()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("status %d", c)
		}
	}
	got := e.alerts("")
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	for _, a := range got {
		if a.Deliveries != 20 {
			t.Errorf("%s deliveries = %d, want 20", a.Fingerprint, a.Deliveries)
		}
	}
	if v := e.metric("alerts_received_total|alertname=TargetDown|severity=critical|status=firing"); v != 1 {
		t.Errorf("counted %v times, want 1", v)
	}
}

func TestWebhookRejects(t *testing.T) {
	valid := payload("firing", alertJSON("firing", "abc", "HighErrorRate", "critical"))
	tests := []struct {
		name, body string
		headers    []string
		status     int
	}{
		{"no token", valid, []string{"Authorization", ""}, 401},
		{"wrong token", valid, []string{"Authorization", "Bearer nope"}, 401},
		{"admin token is not the webhook token", valid, []string{"Authorization", "Bearer " + adminToken}, 401},
		{"version 3", strings.Replace(valid, `"version":"4"`, `"version":"3"`, 1), nil, 400},
		{"version missing", strings.Replace(valid, `"version":"4",`, ``, 1), nil, 400},
		{"version as number", strings.Replace(valid, `"version":"4"`, `"version":4`, 1), nil, 400},
		{"malformed", `{"version":"4","alerts":[`, nil, 400},
		{"array", `[]`, nil, 400},
		{"empty", ``, nil, 400},
		{"no alerts", payload("firing"), nil, 400},
		{"bad alert status", payload("firing", alertJSON("pending", "abc", "X", "critical")), nil, 400},
		{"no fingerprint", payload("firing", alertJSON("firing", "", "X", "critical")), nil, 400},
		{"odd fingerprint", payload("firing", alertJSON("firing", "ab c", "X", "critical")), nil, 400},
		{"no alertname", payload("firing", alertJSON("firing", "abc", "", "critical")), nil, 400},
		{"bad startsAt", strings.Replace(valid, `"2026-11-21T10:00:00.123456789Z"`, `"yesterday"`, 1), nil, 400},
		{"second alert bad", payload("firing", alertJSON("firing", "abc", "X", "critical"), alertJSON("firing", "", "Y", "critical")), nil, 400},
		{"over 1 MiB", payload("firing", alertJSON("firing", "abc", "X", "critical")) + strings.Repeat(" ", 1<<20), nil, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			headers := append([]string{"Authorization", "Bearer " + webhookToken}, tt.headers...)
			if tt.body == "" {
				headers = append(headers, "Content-Type", "application/json")
			}
			problemOf(t, e.do("POST", "/webhooks/alertmanager", tt.body, headers...), tt.status)
			if n := len(e.alerts("")); n != 0 {
				t.Errorf("%d alerts stored", n)
			}
			if deliveries, _ := e.deliveryStats(); deliveries != 0 {
				t.Errorf("%d deliveries logged", deliveries)
			}
		})
	}
}

func TestWebhookDisabledWithoutToken(t *testing.T) {
	e := newEnvWith(t, envOptions{vars: map[string]string{"ALERT_WEBHOOK_TOKEN": ""}})
	p := problemOf(t, e.do("POST", "/webhooks/alertmanager", payload("firing", alertJSON("firing", "a", "X", "critical"))), 503)
	if !strings.Contains(p["detail"].(string), "ALERT_WEBHOOK_TOKEN") {
		t.Errorf("detail = %v", p["detail"])
	}
}

func TestWebhookTruncatedAlertsRecorded(t *testing.T) {
	e := newEnv(t)
	body := strings.Replace(payload("firing", alertJSON("firing", "abc", "X", "critical")), `"truncatedAlerts":0`, `"truncatedAlerts":7`, 1)
	if code := e.webhook(body); code != 200 {
		t.Fatal(code)
	}
	if deliveries, truncated := e.deliveryStats(); deliveries != 1 || truncated != 7 {
		t.Errorf("deliveries %d truncated %d", deliveries, truncated)
	}
}

// flakyAlerts fails the first call with a storage error, as a locked or
// full disk would, then passes through to the real store.
type flakyAlerts struct {
	app.Store
	mu    sync.Mutex
	fails int
}

func (f *flakyAlerts) RecordAlerts(ctx context.Context, n ordersvc.AlertNotification, at time.Time) ([]ordersvc.AlertChange, error) {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return nil, ordersvc.WrapError(ordersvc.KindUnavailable, fmt.Errorf("disk I/O error"), "the database is unavailable")
	}
	return f.Store.RecordAlerts(ctx, n, at)
}

func TestWebhookStorageFailureIs503ThenRetrySucceeds(t *testing.T) {
	e := newEnvWith(t, envOptions{wrap: func(s app.Store) app.Store { return &flakyAlerts{Store: s, fails: 1} }})
	body := payload("firing", alertJSON("firing", "abc", "HighErrorRate", "critical"))
	if code := e.webhook(body); code != http.StatusServiceUnavailable {
		t.Fatalf("first delivery = %d, want 503 so Alertmanager retries", code)
	}
	if n := len(e.alerts("")); n != 0 {
		t.Fatalf("stored %d on failure", n)
	}
	if code := e.webhook(body); code != 200 {
		t.Fatalf("retry = %d", code)
	}
	if got := e.alerts(""); len(got) != 1 || got[0].Deliveries != 1 {
		t.Errorf("after retry: %+v", got)
	}
}

func TestListAlertsRejects(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"?status=pending", "?limit=0", "?limit=501", "?limit=ten", "?limit=-1"} {
		problemOf(t, e.admin("GET", "/alerts"+q, ""), 422)
	}
	problemOf(t, e.do("GET", "/alerts", ""), 401)
}

// FuzzDecodeWebhook: no input panics, refusals are 400, and what is
// accepted is well-formed.
func FuzzDecodeWebhook(f *testing.F) {
	f.Add([]byte(payload("firing", alertJSON("firing", "abc", "HighErrorRate", "critical"))))
	f.Add([]byte(payload("resolved", alertJSON("resolved", "abc", "X", "warning"))))
	f.Add([]byte(`{"version":"4","alerts":[{}]}`))
	f.Add([]byte(`{"version":"4","alerts":null}`))
	f.Add([]byte(`{"version":"4","truncatedAlerts":-1,"alerts":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, p := handlers.DecodeWebhook(body)
		if p != nil {
			if p.Status != 400 {
				t.Fatalf("status %d", p.Status)
			}
			return
		}
		if len(n.Alerts) == 0 || len(n.Alerts) > ordersvc.MaxAlertsPerNotification {
			t.Fatalf("accepted %d alerts", len(n.Alerts))
		}
		for _, a := range n.Alerts {
			if a.Fingerprint == "" || a.StartsAt.IsZero() || (a.Status != "firing" && a.Status != "resolved") || a.Labels["alertname"] == "" {
				t.Fatalf("accepted malformed alert %+v", a)
			}
		}
		if _, err := json.Marshal(n); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDecodeWebhookLimits pins the webhook limits at their boundaries and
// the details that name them.
func TestDecodeWebhookLimits(t *testing.T) {
	one := alertJSON("firing", "abc", "HighErrorRate", "critical")
	many := func(n int) string {
		alerts := make([]string, n)
		for i := range alerts {
			alerts[i] = alertJSON("firing", fmt.Sprintf("f%d", i), "HighErrorRate", "critical")
		}
		return payload("firing", alerts...)
	}
	withReceiver := func(n int) string {
		return strings.Replace(payload("firing", one), `"receiver":"paging"`, `"receiver":"`+strings.Repeat("r", n)+`"`, 1)
	}
	withGroupKey := func(n int) string {
		return strings.Replace(payload("firing", one), `"groupKey":"{}:{alertname=\"HighErrorRate\"}"`, `"groupKey":"`+strings.Repeat("g", n)+`"`, 1)
	}
	tests := []struct {
		name, body, detail string // detail "" means accepted
	}{
		{"most alerts", many(ordersvc.MaxAlertsPerNotification), ""},
		{"too many alerts", many(ordersvc.MaxAlertsPerNotification + 1), "a notification carries 1 to 1000 alerts"},
		{"longest receiver", withReceiver(ordersvc.MaxReceiverLen), ""},
		{"receiver too long", withReceiver(ordersvc.MaxReceiverLen + 1), "receiver, groupKey or truncatedAlerts out of range"},
		{"longest groupKey", withGroupKey(ordersvc.MaxGroupKeyLen), ""},
		{"groupKey too long", withGroupKey(ordersvc.MaxGroupKeyLen + 1), "receiver, groupKey or truncatedAlerts out of range"},
		{"longest fingerprint", payload("firing", alertJSON("firing", strings.Repeat("f", ordersvc.MaxFingerprintLen), "A", "critical")), ""},
		{"fingerprint too long", payload("firing", alertJSON("firing", strings.Repeat("f", ordersvc.MaxFingerprintLen+1), "A", "critical")),
			"alerts[0].fingerprint must be 1 to 64 letters or digits"},
		{"unknown status", payload("firing", alertJSON("pending", "abc", "A", "critical")), "alerts[0].status must be firing or resolved"},
	}
	for _, tt := range tests {
		_, p := handlers.DecodeWebhook([]byte(tt.body))
		switch {
		case tt.detail == "" && p != nil:
			t.Errorf("%s: refused: %+v", tt.name, *p)
		case tt.detail != "" && p == nil:
			t.Errorf("%s: accepted", tt.name)
		case p != nil && (p.Status != http.StatusBadRequest || p.Detail != tt.detail):
			t.Errorf("%s: %d %q, want 400 %q", tt.name, p.Status, p.Detail, tt.detail)
		}
	}
}

func TestListAlertsLimitMessage(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"?limit=0", "?limit=501", "?limit=x", "?status=pending"} {
		w := e.admin("GET", "/alerts"+q, "")
		p := problemOf(t, w, http.StatusUnprocessableEntity)
		errs, _ := p["errors"].([]any)
		if len(errs) != 1 {
			t.Fatalf("%s: errors = %v", q, p["errors"])
		}
		fe := errs[0].(map[string]any)
		want := map[string]string{"limit": "must be an integer from 1 to 500", "status": "must be firing or resolved"}[fe["field"].(string)]
		if fe["message"] != want {
			t.Errorf("%s: %v = %q, want %q", q, fe["field"], fe["message"], want)
		}
	}
	if w := e.admin("GET", "/alerts?limit=500", ""); w.Code != http.StatusOK {
		t.Errorf("limit=500: %d", w.Code)
	}
}

// TestHeartbeatEndpoint: a Watchdog delivery moves the dead man's switch
// from never to ok, through GET /alerts/heartbeat and the gauge; the
// endpoint is admin-only.
func TestHeartbeatEndpoint(t *testing.T) {
	e := newEnv(t)
	hb := decode[map[string]any](t, e.admin("GET", "/alerts/heartbeat", ""))
	if hb["state"] != "never" || e.metric("alert_heartbeat_last_received_timestamp_seconds") != 0 {
		t.Fatalf("before any heartbeat: %v, gauge %v", hb, e.metric("alert_heartbeat_last_received_timestamp_seconds"))
	}
	before := time.Now()
	wd := strings.Replace(payload("firing", alertJSON("firing", "wd1", "Watchdog", "none")), `"receiver":"paging"`, `"receiver":"heartbeat"`, 1)
	for range 3 {
		if code := e.webhook(wd); code != 200 {
			t.Fatalf("webhook = %d", code)
		}
	}
	hb = decode[map[string]any](t, e.admin("GET", "/alerts/heartbeat", ""))
	if hb["state"] != "ok" || hb["receiver"] != "heartbeat" || hb["timeout"] != "5m0s" || hb["outages"] != 0.0 {
		t.Errorf("after heartbeats: %v", hb)
	}
	if v := e.metric("alert_heartbeat_last_received_timestamp_seconds"); v < float64(before.Unix()) {
		t.Errorf("gauge = %v, want the time of the last heartbeat (≥ %d)", v, before.Unix())
	}
	if n := len(e.alerts("")); n != 1 {
		t.Errorf("%d alert records after three heartbeats, want the one Watchdog record", n)
	}
	problemOf(t, e.do("GET", "/alerts/heartbeat", ""), 401)
}
