package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// start builds the service from env and runs it on a loopback port until
// the returned cancel is called; done receives Run's result.
func start(t *testing.T, env map[string]string) (base string, a *app.App, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	svc := testkit.NewService(t, testkit.ServiceOptions{Env: env})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ch <- svc.Run(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return "http://" + ln.Addr().String(), svc.App, cancel, ch
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := testkit.HTTPClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestShutdownDelayKeepsServingWhileNotReady: after the stop signal,
// readiness answers 503 at once while requests are still served for
// SHUTDOWN_DELAY; only then does the listener close, and Run returns nil.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	const delay = 1500 * time.Millisecond
	base, _, cancel, done := start(t, map[string]string{"SHUTDOWN_DELAY": delay.String(), "SHUTDOWN_TIMEOUT": "5s"})
	if code := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before shutdown = %d", code)
	}
	stopAt := time.Now()
	cancel()
	testkit.WaitFor(t, "readyz answers 503 after the stop signal", time.Second, func() (bool, string) {
		code := get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable, http.StatusText(code)
	})
	if code := get(t, base+"/inventory"); code != http.StatusOK {
		t.Errorf("GET /inventory while draining = %d, want 200: the delay is for serving", code)
	}
	if since := time.Since(stopAt); since >= delay {
		t.Fatalf("the checks took %s, longer than the delay: the test proves nothing", since)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if took := time.Since(stopAt); took < delay {
			t.Errorf("Run returned %s after the stop signal, before SHUTDOWN_DELAY (%s)", took, delay)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := testkit.HTTPClient.Get(base + "/healthz"); err == nil {
		t.Error("the listener still accepts connections after shutdown")
	}
}

// TestShutdownEndsInjectedLatency: a request held by an injected latency
// far beyond SHUTDOWN_TIMEOUT completes once shutdown starts, so the drain
// finishes in time and Run returns nil (before, the connection was reset
// and the process exited 1).
func TestShutdownEndsInjectedLatency(t *testing.T) {
	base, a, cancel, done := start(t, map[string]string{"SHUTDOWN_DELAY": "0s", "SHUTDOWN_TIMEOUT": "3s"})
	req, _ := http.NewRequest(http.MethodPut, base+"/admin/faults", strings.NewReader(`{"latency_ms":60000,"routes":["/inventory"]}`))
	req.Header.Set("Authorization", "Bearer "+a.Config.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := testkit.HTTPClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("set faults: %v %v", resp, err)
	}
	resp.Body.Close()
	slow := make(chan int, 1)
	go func() {
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Get(base + "/inventory")
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the request is now waiting on the fault
	start := time.Now()
	cancel()
	select {
	case code := <-slow:
		if code != http.StatusOK {
			t.Errorf("the faulted request got %d during shutdown, want 200", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the faulted request was still waiting 10s after shutdown began")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil (a clean drain)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %s, more than SHUTDOWN_TIMEOUT", took)
	}
}

// TestRetentionDeletesResolvedAlerts: the background loop deletes resolved
// alerts older than ALERT_RETENTION, and leaves firing ones.
func TestRetentionDeletesResolvedAlerts(t *testing.T) {
	svc := testkit.NewService(t, testkit.ServiceOptions{
		Env:           map[string]string{"ALERT_RETENTION": "1s"},
		PruneInterval: 50 * time.Millisecond,
	})
	body := func(status, fp string) string {
		ends := "0001-01-01T00:00:00Z"
		if status == "resolved" {
			ends = "2026-11-21T10:05:00Z"
		}
		return `{"version":"4","status":"` + status + `","receiver":"ticket","groupKey":"g","alerts":[{"status":"` + status +
			`","labels":{"alertname":"X","severity":"warning"},"annotations":{},"startsAt":"2026-11-21T10:00:00Z","endsAt":"` + ends +
			`","fingerprint":"` + fp + `"}]}`
	}
	for _, b := range []string{body("resolved", "gone"), body("firing", "stays")} {
		if w := svc.Webhook(b); w.Code != http.StatusOK {
			t.Fatalf("webhook: %d %s", w.Code, w.Body)
		}
	}
	d := testkit.WaitFor(t, "the resolved alert is deleted", 10*time.Second, func() (bool, string) {
		got := svc.Alerts("")
		return len(got) == 1 && got[0].Fingerprint == "stays", fmt.Sprintf("%d alerts", len(got))
	})
	t.Logf("resolved alert deleted %s after delivery (retention 1s)", d.Round(time.Millisecond))
}

// TestDeadMansSwitchReportsOnce: after a heartbeat, silence for
// HEARTBEAT_TIMEOUT sends exactly one "alerting pipeline silent" event to
// Sentry (level error, stable fingerprint), and the next heartbeat one
// recovery in the same issue.
func TestDeadMansSwitchReportsOnce(t *testing.T) {
	sink := sentrytest.New(t, sentrytest.Options{})
	const timeout = 5 * time.Second
	svc := testkit.NewService(t, testkit.ServiceOptions{Env: map[string]string{
		"HEARTBEAT_TIMEOUT": timeout.String(), "SENTRY_DSN": sink.DSN(),
	}})
	wd := `{"version":"4","status":"firing","receiver":"heartbeat","groupKey":"wd","alerts":[{"status":"firing",` +
		`"labels":{"alertname":"Watchdog","severity":"none"},"annotations":{},"startsAt":"2026-11-21T10:00:00Z",` +
		`"endsAt":"0001-01-01T00:00:00Z","fingerprint":"wd"}]}`
	if w := svc.Webhook(wd); w.Code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", w.Code, w.Body)
	}
	last := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*timeout)
	defer cancel()
	evs, err := sink.WaitEvents(ctx, "event", 1)
	if err != nil {
		t.Fatalf("no silence event: %v", err)
	}
	detected := time.Since(last)
	if ev := evs[0]; ev.Level != "error" || !strings.Contains(ev.Message, "alerting pipeline silent") ||
		strings.Join(ev.Fingerprint, "/") != "ordersvc/alerting-pipeline-silent" {
		t.Errorf("silence event: level %q message %q fingerprint %v", ev.Level, ev.Message, ev.Fingerprint)
	}
	if detected < timeout || detected > timeout+timeout/10 {
		t.Errorf("detected after %s, want within [%s, %s + 10%%]", detected, timeout, timeout)
	}
	time.Sleep(2 * time.Second) // more checks: still one event
	if n := sink.Count("event"); n != 1 {
		t.Fatalf("%d events during one outage, want 1", n)
	}
	if hb := svc.Admin("GET", "/alerts/heartbeat", ""); !strings.Contains(hb.Body.String(), `"state":"silent"`) {
		t.Errorf("heartbeat during the outage: %s", hb.Body)
	}
	if w := svc.Webhook(wd); w.Code != http.StatusOK {
		t.Fatalf("heartbeat: %d", w.Code)
	}
	evs, err = sink.WaitEvents(ctx, "event", 2)
	if err != nil {
		t.Fatalf("no recovery event: %v", err)
	}
	if ev := evs[1]; ev.Level != "info" || !strings.Contains(ev.Message, "recovered") {
		t.Errorf("recovery event: level %q message %q", ev.Level, ev.Message)
	}
	t.Logf("silence detected %s after the last heartbeat (timeout %s); events %d", detected.Round(10*time.Millisecond), timeout, sink.Count("event"))
}
