package tests

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// heartbeatTimeout is the service's HEARTBEAT_TIMEOUT in TestPipeline:
// long enough that a heartbeat every few seconds (the fast Watchdog route)
// never looks late, short enough that the test stays bounded.
const heartbeatTimeout = 20 * time.Second

// detectionSlack is how far past HEARTBEAT_TIMEOUT an outage may be
// reported: the switch checks every twentieth of the timeout (5%), the
// rest is the check itself and the delivery to Sentry.
const detectionSlack = heartbeatTimeout / 10

// Messages of the switch (watchdog and errortracking), which the test
// looks for in the Sentry sink and the service's log.
const (
	silentMessage    = "alerting pipeline silent"
	recoveredMessage = "alerting pipeline recovered"
)

// heartbeatState is GET /alerts/heartbeat.
type heartbeatState struct {
	State           string     `json:"state"`
	Timeout         string     `json:"timeout"`
	LastReceivedAt  time.Time  `json:"last_received_at"`
	Receiver        string     `json:"receiver"`
	SilentSince     *time.Time `json:"silent_since"`
	Outages         int64      `json:"outages"`
	LastRecoveredAt *time.Time `json:"last_recovered_at"`
	AgeSeconds      *float64   `json:"age_seconds"`
}

// TestPipeline proves the dead man's switch of issue #13 on the real
// stack: the Watchdog heartbeat arrives through the fast Alertmanager
// route; both Alertmanagers killed is one "alerting pipeline silent" event
// in Sentry within HEARTBEAT_TIMEOUT plus 10%, and only one; restarted,
// the recovery is recorded and reported; a wrong webhook token in
// Alertmanager's credentials file (the webhook answers 401) is a second
// outage, and AlertmanagerFailedToSendAlerts fires in Prometheus.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Prometheus, two Alertmanagers and the service")
	}
	ph := newPhases(t)
	s := startStackWith(t, stackOptions{
		serviceEnv: []string{"HEARTBEAT_TIMEOUT=" + heartbeatTimeout.String()},
		// AlertmanagerFailedToSendAlerts is a self-monitoring rule.
		ruleFiles: []string{"rules/ordersvc.rules.yml", "rules/selfmonitoring.rules.yml"},
	})
	checkInterval := ordersvc.HeartbeatCheckInterval(heartbeatTimeout)
	s.logHeartbeatRoute(t)
	ph.done(fmt.Sprintf("start the stack with HEARTBEAT_TIMEOUT=%s (check interval %s) and the self-monitoring rules", heartbeatTimeout, checkInterval))

	// --- (a) the heartbeat arrives ----------------------------------------
	hb := s.waitHeartbeat(t, "the first heartbeat (state ok)", alertTimeout, func(h heartbeatState) bool { return h.State == ordersvc.HeartbeatOK })
	if hb.Receiver != "heartbeat" || hb.Outages != 0 || hb.Timeout != heartbeatTimeout.String() {
		t.Errorf("first heartbeat: receiver %q, outages %d, timeout %q; want heartbeat, 0, %s", hb.Receiver, hb.Outages, hb.Timeout, heartbeatTimeout)
	}
	period := s.heartbeatPeriod(t, hb)
	if period >= heartbeatTimeout/2 {
		t.Fatalf("heartbeats arrive every %s: too slow for HEARTBEAT_TIMEOUT=%s, the switch would fire on its own", period, heartbeatTimeout)
	}
	s.checkHeartbeatGauge(t)
	ph.done(fmt.Sprintf("(a) heartbeat ok through receiver %q, one every %s", hb.Receiver, period.Round(100*time.Millisecond)))

	// --- (b) both Alertmanagers killed ------------------------------------
	before := s.heartbeat(t)
	killedAt := time.Now()
	for _, am := range s.ams {
		if !am.Kill() {
			t.Fatalf("%s (pid %d) had already exited", am.Name, am.PID())
		}
		t.Logf("SIGKILL %s (pid %d)", am.Name, am.PID())
	}
	t.Logf("last heartbeat before the kill arrived %s earlier", killedAt.Sub(before.LastReceivedAt).Round(time.Millisecond))
	// The last heartbeat arrived at or before the kill, so the event is
	// due by killedAt + timeout + slack; a few seconds more separate "late"
	// (asserted below, with the figure) from "never".
	silent, arrived := s.waitPipelineEvents(t, silentMessage, 1, heartbeatTimeout+detectionSlack+10*time.Second)
	hb = s.heartbeat(t)
	if hb.State != ordersvc.HeartbeatSilent || hb.SilentSince == nil || hb.Outages != 1 {
		t.Errorf("after the kill: state %q, silent_since %v, outages %d; want silent, set, 1", hb.State, hb.SilentSince, hb.Outages)
	}
	detected := checkDetection(t, "both Alertmanagers killed", hb, arrived)
	checkSilentEvent(t, silent[0], hb)
	// The outage goes on: the switch checks again every interval and must
	// not report it again.
	time.Sleep(5 * checkInterval)
	s.checkPipelineEventCount(t, silentMessage, 1)
	s.checkLogCount(t, "alerting pipeline silent: no Watchdog heartbeat", 1)
	ph.done(fmt.Sprintf("(b) Alertmanagers killed: one %q event, %s after the last heartbeat (floor %s, bound %s); still one %s later",
		silentMessage, detected.Round(time.Millisecond), heartbeatTimeout, heartbeatTimeout+detectionSlack, 5*checkInterval))

	// --- (c) restarted: the recovery --------------------------------------
	restartedAt := time.Now()
	for i := range s.ams {
		s.restartAlertmanager(t, i)
	}
	hb = s.waitHeartbeat(t, "the recovery (state ok, last_recovered_at set)", alertTimeout, func(h heartbeatState) bool {
		return h.State == ordersvc.HeartbeatOK && h.LastRecoveredAt != nil
	})
	recoveredIn := hb.LastRecoveredAt.Sub(restartedAt)
	if hb.Outages != 1 || hb.SilentSince != nil || hb.LastRecoveredAt.Before(restartedAt) {
		t.Errorf("after the restart: outages %d, silent_since %v, last_recovered_at %s (restart at %s); want 1, unset, after the restart",
			hb.Outages, hb.SilentSince, hb.LastRecoveredAt, restartedAt.Format(time.RFC3339Nano))
	}
	recovered, recArrived := s.waitPipelineEvents(t, recoveredMessage, 1, sentryTimeout)
	if ev := recovered[0]; ev.Level != "info" || !slices.Equal(ev.Fingerprint, []string{"ordersvc", "alerting-pipeline-silent"}) {
		t.Errorf("recovery event: level %q, fingerprint %q; want info in the outage's issue", ev.Level, ev.Fingerprint)
	}
	s.checkLogCount(t, "alerting pipeline recovered: heartbeats resumed", 1)
	t.Logf("recovery: restart → heartbeat recorded %s, → %q event %s; event: %q", recoveredIn.Round(time.Millisecond),
		recoveredMessage, recArrived.Sub(restartedAt).Round(time.Millisecond), recovered[0].Message)
	ph.done(fmt.Sprintf("(c) Alertmanagers restarted: heartbeat ok %s later, recovery event, last_recovered_at %s",
		recoveredIn.Round(time.Millisecond), hb.LastRecoveredAt.Format(time.TimeOnly)))

	// --- (d) a wrong webhook token ----------------------------------------
	refusedBefore := s.webhook401s(t)
	brokenAt := s.breakWebhookToken(t)
	// Both signs of the broken token are awaited at once, so that each
	// one's figure is its own: the alert in Prometheus is polled in the
	// background while the Sentry event is awaited here.
	firing := make(chan error, 1)
	var firingAt time.Time
	go func() {
		_, err := testkit.Poll(alertTimeout, func() (bool, string) {
			ok, msg := s.promFiring("AlertmanagerFailedToSendAlerts")
			if ok {
				firingAt = time.Now()
			}
			return ok, msg
		})
		firing <- err
	}()
	silent, arrived = s.waitPipelineEvents(t, silentMessage, 2, heartbeatTimeout+detectionSlack+15*time.Second)
	hb = s.heartbeat(t)
	if hb.State != ordersvc.HeartbeatSilent || hb.Outages != 2 {
		t.Errorf("after the token change: state %q, outages %d; want silent, 2", hb.State, hb.Outages)
	}
	detected2 := checkDetection(t, "wrong webhook token", hb, arrived)
	checkSilentEvent(t, silent[1], hb)
	if refused := s.webhook401s(t) - refusedBefore; refused <= 0 {
		t.Errorf("the webhook answered no 401 since the token changed (http_requests_total as scraped: %v before)", refusedBefore)
	} else {
		t.Logf("the webhook answered %v notifications with 401 since the token changed", refused)
	}
	if err := <-firing; err != nil {
		t.Fatalf("AlertmanagerFailedToSendAlerts firing in Prometheus: %v", err)
	}
	s.logFailedNotifications(t)
	s.checkPipelineEventCount(t, silentMessage, 2)
	s.checkPipelineEventCount(t, recoveredMessage, 1)
	ph.done(fmt.Sprintf("(d) wrong token: second %q event %s after the last heartbeat (floor %s); AlertmanagerFailedToSendAlerts firing %s after the change",
		silentMessage, detected2.Round(time.Millisecond), heartbeatTimeout, firingAt.Sub(brokenAt).Round(time.Millisecond)))
}

// logHeartbeatRoute logs the Watchdog route's timings in the rewritten
// alertmanager.yml: its repeat_interval is how often a heartbeat arrives
// while nothing changes.
func (s *stack) logHeartbeatRoute(t *testing.T) {
	t.Helper()
	cfg, err := amconfig.LoadFile(filepath.Join(s.dir, "alertmanager.yml"))
	if err != nil {
		t.Fatalf("load the rewritten alertmanager.yml: %v", err)
	}
	for _, r := range cfg.Route.Routes {
		if r.Receiver == "heartbeat" {
			t.Logf("heartbeat route after the fast rewrite: group_wait %v, group_interval %v, repeat_interval %v (speedup %d, floor %s)",
				r.GroupWait, r.GroupInterval, r.RepeatInterval, speedup, minRouteTiming)
			return
		}
	}
	t.Fatal("the rewritten alertmanager.yml has no heartbeat route")
}

// heartbeat returns GET /alerts/heartbeat or fails the test.
func (s *stack) heartbeat(t *testing.T) heartbeatState {
	t.Helper()
	hb, err := s.getHeartbeat()
	if err != nil {
		t.Fatal(err)
	}
	return hb
}

// getHeartbeat returns GET /alerts/heartbeat.
func (s *stack) getHeartbeat() (heartbeatState, error) {
	var hb heartbeatState
	if err := getJSON(s.svcURL+"/alerts/heartbeat", testkit.AdminToken, &hb); err != nil {
		return hb, fmt.Errorf("GET /alerts/heartbeat: %w", err)
	}
	return hb, nil
}

// waitHeartbeat polls GET /alerts/heartbeat until done is true.
func (s *stack) waitHeartbeat(t *testing.T, what string, timeout time.Duration, done func(heartbeatState) bool) heartbeatState {
	t.Helper()
	var hb heartbeatState
	testkit.WaitFor(t, what, timeout, func() (bool, string) {
		var err error
		if hb, err = s.getHeartbeat(); err != nil {
			return false, err.Error()
		}
		return done(hb), fmt.Sprintf("%+v", hb)
	})
	return hb
}

// heartbeatPeriod waits for two more heartbeats after hb and returns the
// longer gap between consecutive ones.
func (s *stack) heartbeatPeriod(t *testing.T, hb heartbeatState) time.Duration {
	t.Helper()
	var gaps []time.Duration
	last := hb.LastReceivedAt
	for range 2 {
		next := s.waitHeartbeat(t, "the next heartbeat", heartbeatTimeout, func(h heartbeatState) bool { return h.LastReceivedAt.After(last) })
		gaps = append(gaps, next.LastReceivedAt.Sub(last))
		last = next.LastReceivedAt
	}
	t.Logf("heartbeat gaps: %v", gaps)
	return slices.Max(gaps)
}

// checkHeartbeatGauge checks that alert_heartbeat_last_received_timestamp_seconds
// is the time GET /alerts/heartbeat reports.
func (s *stack) checkHeartbeatGauge(t *testing.T) {
	t.Helper()
	f, ok := testkit.Scrape(t, s.svcURL+"/metrics")["alert_heartbeat_last_received_timestamp_seconds"]
	hb := s.heartbeat(t)
	if !ok || len(f.GetMetric()) != 1 {
		t.Errorf("/metrics has no alert_heartbeat_last_received_timestamp_seconds")
		return
	}
	got := time.Unix(0, int64(f.GetMetric()[0].GetGauge().GetValue()*1e9))
	// A heartbeat may arrive between the scrape and the GET.
	if d := hb.LastReceivedAt.Sub(got); d < -time.Second || d > 10*time.Second {
		t.Errorf("alert_heartbeat_last_received_timestamp_seconds is %s, GET /alerts/heartbeat says %s", got.Format(time.RFC3339Nano), hb.LastReceivedAt.Format(time.RFC3339Nano))
	}
}

// isPipelineEvent matches the switch's events whose message starts with
// prefix.
func isPipelineEvent(prefix string) func(sentrytest.Event) bool {
	return func(ev sentrytest.Event) bool {
		return strings.HasPrefix(ev.Message, prefix) && slices.Equal(ev.Fingerprint, []string{"ordersvc", "alerting-pipeline-silent"})
	}
}

// waitPipelineEvents waits until the sink holds n events of the switch
// whose message starts with prefix, and returns them and when the n-th
// arrived.
func (s *stack) waitPipelineEvents(t *testing.T, prefix string, n int, timeout time.Duration) ([]sentrytest.Event, time.Time) {
	t.Helper()
	evs, at, err := waitSentryEvents(s.sink, n, timeout, isPipelineEvent(prefix))
	if err != nil {
		hb, _ := s.getHeartbeat()
		t.Fatalf("%q events: %v; heartbeat %+v", prefix, err, hb)
	}
	return evs, at
}

// checkPipelineEventCount asserts that the sink holds exactly n events of
// the switch whose message starts with prefix.
func (s *stack) checkPipelineEventCount(t *testing.T, prefix string, n int) {
	t.Helper()
	evs, err := sentryEvents(s.sink, isPipelineEvent(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		var msgs []string
		for _, ev := range evs {
			msgs = append(msgs, ev.Message)
		}
		t.Errorf("%d %q events in the Sentry sink, want %d: %q", len(evs), prefix, n, msgs)
		return
	}
	t.Logf("Sentry sink: %d %q event(s), as expected", n, prefix)
}

// checkLogCount asserts that the service logged msg exactly n times.
func (s *stack) checkLogCount(t *testing.T, msg string, n int) {
	t.Helper()
	if got := len(s.service.JSONLogLines(msg)); got != n {
		t.Errorf("the service logged %q %d times, want %d", msg, got, n)
	}
}

// checkDetection logs and bounds how long after the last heartbeat the
// outage reached Sentry: at least HEARTBEAT_TIMEOUT (sooner is a false
// alarm), at most HEARTBEAT_TIMEOUT plus 10%.
func checkDetection(t *testing.T, what string, hb heartbeatState, arrived time.Time) time.Duration {
	t.Helper()
	detected := arrived.Sub(hb.LastReceivedAt)
	claim := time.Duration(0)
	if hb.SilentSince != nil {
		claim = hb.SilentSince.Sub(hb.LastReceivedAt)
	}
	t.Logf("%s: detection %s from the last heartbeat (%s) to the event's arrival; floor %s (HEARTBEAT_TIMEOUT), bound %s; the switch claimed the outage after %s, Sentry delivery took %s",
		what, detected.Round(time.Millisecond), hb.LastReceivedAt.Format("15:04:05.000"), heartbeatTimeout, heartbeatTimeout+detectionSlack,
		claim.Round(time.Millisecond), (detected - claim).Round(time.Millisecond))
	if detected < heartbeatTimeout {
		t.Errorf("%s: reported %s after the last heartbeat, before HEARTBEAT_TIMEOUT %s", what, detected, heartbeatTimeout)
	}
	if detected > heartbeatTimeout+detectionSlack {
		t.Errorf("%s: reported %s after the last heartbeat, later than HEARTBEAT_TIMEOUT + 10%% (%s)", what, detected, heartbeatTimeout+detectionSlack)
	}
	return detected
}

// checkSilentEvent checks an outage's Sentry event against the state.
func checkSilentEvent(t *testing.T, ev sentrytest.Event, hb heartbeatState) {
	t.Helper()
	want := "alerting pipeline silent: no Watchdog heartbeat for " + heartbeatTimeout.String()
	if ev.Level != "error" || ev.Message != want {
		t.Errorf("outage event: level %q message %q; want error, %q", ev.Level, ev.Message, want)
	}
	ctx := ev.Contexts["heartbeat"]
	last, _ := ctx["last_received_at"].(string)
	at, err := time.Parse(time.RFC3339Nano, last)
	if err != nil || !at.Equal(hb.LastReceivedAt) {
		t.Errorf("outage event: heartbeat context last_received_at %q, GET /alerts/heartbeat says %s", last, hb.LastReceivedAt.Format(time.RFC3339Nano))
	}
	if ctx["receiver"] != "heartbeat" || ctx["outages"] != float64(hb.Outages) {
		t.Errorf("outage event: heartbeat context %v; want receiver heartbeat, outages %d", ctx, hb.Outages)
	}
}

// restartAlertmanager starts Alertmanager i again with its first flags
// (same ports, storage and peers) and waits until it is ready.
func (s *stack) restartAlertmanager(t *testing.T, i int) {
	t.Helper()
	name := fmt.Sprintf("alertmanager-%d-restarted-%d", i, time.Now().UnixNano())
	p := testkit.StartProc(t, name, s.amBin, s.amArgs[i], testkit.ProcOptions{})
	s.ams[i] = p
	p.WaitReady(t, s.amURLs[i]+"/-/ready", startTimeout)
}

// breakWebhookToken writes a wrong token into the credentials file both
// Alertmanagers send to the webhook, and reloads them (POST /-/reload);
// it returns when both reloaded. From then on every notification gets a
// 401.
func (s *stack) breakWebhookToken(t *testing.T) time.Time {
	t.Helper()
	if err := writeFile(filepath.Join(s.dir, "alert_webhook_token"), []byte("wrong-webhook-token-0123456789")); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	for i, u := range s.amURLs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, raw, err := doJSON(ctx, http.MethodPost, u+"/-/reload", "", nil, nil)
		cancel()
		if err != nil || code != http.StatusOK {
			t.Fatalf("reload alertmanager-%d: %d %s %v", i, code, raw, err)
		}
	}
	t.Logf("wrong token written to the credentials file; both Alertmanagers reloaded (POST /-/reload)")
	return at
}

// webhook401s returns how many notifications the webhook has refused
// with 401, as the service counted them (http_requests_total) and
// Prometheus last scraped them; 0 while there were none.
func (s *stack) webhook401s(t *testing.T) float64 {
	t.Helper()
	v, err := s.promQuery(`sum(http_requests_total{job="ordersvc", endpoint="/webhooks/alertmanager", status_code="401"})`)
	if err != nil {
		t.Fatalf("count the webhook's 401s: %v", err)
	}
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.ParseFloat(fmt.Sprint(v[0].Value[1]), 64)
	if err != nil {
		t.Fatalf("count the webhook's 401s: %v", err)
	}
	return n
}

// promFiring reports whether Prometheus has alert name firing, and what
// it has otherwise.
func (s *stack) promFiring(name string) (bool, string) {
	alerts, err := s.promAlerts()
	if err != nil {
		return false, err.Error()
	}
	var seen []string
	for _, a := range alerts {
		if a.Labels["alertname"] == name && a.State == "firing" {
			return true, ""
		}
		seen = append(seen, a.Labels["alertname"]+"/"+a.State)
	}
	return false, "prometheus alerts: " + strings.Join(seen, " ")
}

// logFailedNotifications logs Alertmanager's failed webhook notifications
// by instance and reason, as Prometheus scraped them.
func (s *stack) logFailedNotifications(t *testing.T) {
	t.Helper()
	v, err := s.promQuery(`sum by (instance, reason) (alertmanager_notifications_failed_total{job="alertmanager", integration="webhook"}) > 0`)
	if err != nil {
		t.Logf("failed notifications: %v", err)
		return
	}
	for _, smp := range v {
		t.Logf("failed webhook notifications: %s reason %q: %v", smp.Metric["instance"], smp.Metric["reason"], smp.Value[1])
	}
}
