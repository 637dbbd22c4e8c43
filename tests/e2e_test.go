package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/crossref"
	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// Phase bounds. Each is several times what the phase takes on a loaded
// 2-core machine, so a timeout means something is broken, not slow.
const (
	alertTimeout   = 90 * time.Second
	resolveTimeout = 90 * time.Second
	sentryTimeout  = 30 * time.Second
)

// faultedRoutes get the injected faults; /reports/summary stays healthy so
// the error ratio is a ratio, not 100%.
var faultedRoutes = []string{"/orders", "/inventory"}

// TestEndToEnd runs the alerting path for real: the service binary, two
// clustered Alertmanagers, Prometheus and a Sentry sink on loopback, with
// the repository's rules and configs made fast. It injects faults through
// the admin API and follows the alerts from Prometheus to the webhook, the
// store and Sentry, then resolves them, runs every dashboard query, and
// finally stops the service to see TargetDown fire.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Prometheus, two Alertmanagers and the service")
	}
	ph := newPhases(t)

	testkit.ServiceBinary(t)
	testkit.Tool(t, "prometheus")
	testkit.Tool(t, "alertmanager")
	ph.done("build the service, find prometheus and alertmanager in the tool cache")

	s := startStack(t)
	ph.done("start the stack (service, 2 clustered Alertmanagers, Prometheus, Sentry sink)")

	tr := startTraffic(t, s.svcURL)

	// --- Heartbeat ---------------------------------------------------------
	wd := s.waitStored(t, "Watchdog", ordersvc.AlertFiring, alertTimeout)
	if wd.Receiver != "heartbeat" {
		t.Errorf("Watchdog arrived through receiver %q, want heartbeat", wd.Receiver)
	}
	ph.done(fmt.Sprintf("Watchdog delivered to the webhook (receiver %s, %d deliveries so far)", wd.Receiver, wd.Deliveries))

	// --- Series the cross-check takes on trust ----------------------------
	s.checkExternalSeries(t)
	ph.done("every series crossref.External lists exists in this Prometheus")

	// --- Faults on ---------------------------------------------------------
	faultsAt := time.Now()
	s.setFaults(map[string]any{"error_rate": 0.4, "panic_rate": 0.1, "latency_ms": 1500, "routes": faultedRoutes})
	t.Logf("faults on at %s: error_rate 0.4, panic_rate 0.1, latency_ms 1500 on %v", faultsAt.Format(time.TimeOnly), faultedRoutes)

	promAt := s.waitPromFiring(t, "HighErrorRate", "SlowResponseTime", "PanicsDetected")
	for _, name := range []string{"HighErrorRate", "SlowResponseTime", "PanicsDetected"} {
		t.Logf("%s seen firing in Prometheus %s after the faults", name, promAt[name].Sub(faultsAt).Round(time.Millisecond))
	}
	amHER := s.waitInAlertmanagers(t, "HighErrorRate")
	her := s.waitStored(t, "HighErrorRate", ordersvc.AlertFiring, alertTimeout)
	hookLatency := her.FirstReceivedAt.Sub(faultsAt)
	t.Logf("HighErrorRate stored by the webhook %s after the faults (fingerprint %s, receiver %s)",
		hookLatency.Round(time.Millisecond), her.Fingerprint, her.Receiver)
	if her.Fingerprint != amHER.Fingerprint || !her.StartsAt.Equal(amHER.StartsAt) {
		t.Errorf("stored HighErrorRate is %s@%s, Alertmanager holds %s@%s", her.Fingerprint, her.StartsAt, amHER.Fingerprint, amHER.StartsAt)
	}
	if her.Receiver != "paging" || her.Labels["severity"] != "critical" || her.Labels["job"] != "ordersvc" {
		t.Errorf("stored HighErrorRate: receiver %q labels %v, want receiver paging, severity critical, job ordersvc", her.Receiver, her.Labels)
	}
	ph.done(fmt.Sprintf("HighErrorRate: Prometheus → both Alertmanagers → webhook (fault-to-webhook %s)", hookLatency.Round(time.Millisecond)))

	for _, name := range []string{"SlowResponseTime", "PanicsDetected"} {
		// Any status: PanicsDetected has no `for` and may resolve between
		// two panics; the record shows it reached the webhook.
		a := s.waitStoredFunc(t, name+" in GET /alerts", alertTimeout, func(a ordersvc.Alert) bool {
			return a.Labels["alertname"] == name && a.FirstReceivedAt.After(faultsAt)
		})
		t.Logf("%s stored by the webhook %s after the faults (receiver %s, status %s)", name,
			a.FirstReceivedAt.Sub(faultsAt).Round(time.Millisecond), a.Receiver, a.Status)
		if a.Receiver != "ticket" {
			t.Errorf("%s arrived through receiver %q, want ticket", name, a.Receiver)
		}
	}
	ph.done("SlowResponseTime and PanicsDetected fired and were delivered")

	s.checkSentryPanics(t)
	forwarded := s.waitForwardedAlert(t, "HighErrorRate", her)
	ph.done("Sentry: panic events and the forwarded HighErrorRate event")

	// --- Faults off --------------------------------------------------------
	offAt := time.Now()
	s.setFaults(map[string]any{})
	resolved := s.waitStoredFunc(t, "HighErrorRate "+her.Fingerprint+" resolved", resolveTimeout, func(a ordersvc.Alert) bool {
		return a.Fingerprint == her.Fingerprint && a.StartsAt.Equal(her.StartsAt) && a.Status == ordersvc.AlertResolved
	})
	if resolved.EndsAt == nil || !resolved.EndsAt.After(resolved.StartsAt) {
		t.Errorf("resolved HighErrorRate has endsAt %v, want a time after startsAt %s", resolved.EndsAt, resolved.StartsAt)
	}
	t.Logf("HighErrorRate resolved in the store %s after the faults were turned off (endsAt %s)",
		resolved.LastReceivedAt.Sub(offAt).Round(time.Millisecond), resolved.EndsAt.Format(time.RFC3339Nano))
	s.checkStoredOnce(t, her, amHER)
	s.logNotifications(t)
	if forwarded != nil {
		s.checkForwardedOnce(t, "HighErrorRate")
	}
	ph.done("HighErrorRate resolved, stored once, forwarded once")

	// --- Dashboards --------------------------------------------------------
	s.checkDashboards(t)
	ph.done("every dashboard query evaluated against this Prometheus")

	// --- Target down -------------------------------------------------------
	tr.stop()
	t.Logf("traffic while the service ran:\n%s", tr.summary())
	if err := s.service.Stop(); err != nil {
		t.Errorf("ordersvc did not exit cleanly on SIGTERM: %v", err)
	}
	stoppedAt := time.Now()
	at := s.waitPromFiring(t, "TargetDown")["TargetDown"]
	s.waitInAlertmanagers(t, "TargetDown")
	ph.done(fmt.Sprintf("service stopped (SIGTERM, pid %d): TargetDown firing in Prometheus after %s and in both Alertmanagers",
		s.service.PID(), at.Sub(stoppedAt).Round(time.Millisecond)))
}

// checkExternalSeries proves internal/crossref's External against this
// Prometheus: every series the cross-check accepts without the service
// exporting it must exist here. It runs once the Watchdog has been
// delivered, so that the alert series (ALERTS, ALERTS_FOR_STATE) exist
// too; the scrape series exist once every target has been scraped, and
// Prometheus scrapes itself and both Alertmanagers, so self-monitoring
// metrics of either are found as well.
func (s *stack) checkExternalSeries(t *testing.T) {
	t.Helper()
	var r struct {
		Data []string `json:"data"`
	}
	if err := getJSON(s.promURL+"/api/v1/label/__name__/values", "", &r); err != nil {
		t.Errorf("list Prometheus' series names: %v", err)
		return
	}
	external := crossref.External()
	for _, name := range slices.Sorted(maps.Keys(external)) {
		if external[name] == crossref.PostgresExporter {
			continue // this stack runs no postgres_exporter
		}
		if !slices.Contains(r.Data, name) {
			t.Errorf("crossref.External lists %s (%s), but Prometheus holds no such series; it has %d names", name, external[name], len(r.Data))
		}
	}
	t.Logf("crossref.External: all %d series found among Prometheus' %d series names", len(external), len(r.Data))
}

// phases times the test's phases and logs them as a table at the end,
// passed or failed.
type phases struct {
	t     *testing.T
	start time.Time
	last  time.Time
	lines []string
}

// newPhases starts timing at once.
func newPhases(t *testing.T) *phases {
	now := time.Now()
	p := &phases{t: t, start: now, last: now}
	t.Cleanup(func() {
		t.Logf("phase timings:\n%s\n  total %s", strings.Join(p.lines, "\n"), time.Since(p.start).Round(time.Millisecond))
	})
	return p
}

// done ends the current phase.
func (p *phases) done(what string) {
	now := time.Now()
	p.lines = append(p.lines, fmt.Sprintf("  %8s  %s", now.Sub(p.last).Round(100*time.Millisecond), what))
	p.t.Logf("[%s] %s", now.Sub(p.start).Round(100*time.Millisecond), what)
	p.last = now
}

// waitStored waits until GET /alerts lists an alert called name with the
// given status, and returns it.
func (s *stack) waitStored(t *testing.T, name, status string, timeout time.Duration) ordersvc.Alert {
	t.Helper()
	return s.waitStoredFunc(t, name+" "+status+" in GET /alerts", timeout, func(a ordersvc.Alert) bool {
		return a.Labels["alertname"] == name && a.Status == status
	})
}

// waitStoredFunc waits until GET /alerts lists an alert matching match.
func (s *stack) waitStoredFunc(t *testing.T, what string, timeout time.Duration, match func(ordersvc.Alert) bool) ordersvc.Alert {
	t.Helper()
	var found ordersvc.Alert
	testkit.WaitFor(t, what, timeout, func() (bool, string) {
		alerts, err := s.storedAlerts()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			if match(a) {
				found = a
				return true, ""
			}
		}
		return false, "stored: " + describeStored(alerts)
	})
	return found
}

// describeStored summarises stored alerts for failure messages.
func describeStored(alerts []ordersvc.Alert) string {
	var parts []string
	for _, a := range alerts {
		parts = append(parts, fmt.Sprintf("%s/%s(%d)", a.Labels["alertname"], a.Status, a.Deliveries))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " ")
}

// waitPromFiring waits until Prometheus reports every alert of names as
// firing, and returns when it first saw each.
func (s *stack) waitPromFiring(t *testing.T, names ...string) map[string]time.Time {
	t.Helper()
	seenAt := map[string]time.Time{}
	testkit.WaitFor(t, strings.Join(names, ", ")+" firing in Prometheus", alertTimeout, func() (bool, string) {
		alerts, err := s.promAlerts()
		if err != nil {
			return false, err.Error()
		}
		now := time.Now()
		var seen []string
		for _, a := range alerts {
			name := a.Labels["alertname"]
			if _, done := seenAt[name]; !done && a.State == "firing" && slices.Contains(names, name) {
				seenAt[name] = now
			}
			seen = append(seen, name+"/"+a.State)
		}
		return len(seenAt) == len(names), "prometheus alerts: " + strings.Join(seen, " ")
	})
	return seenAt
}

// waitInAlertmanagers waits until every Alertmanager holds alert name as
// active, checks they agree on its identity, and returns the first one's.
func (s *stack) waitInAlertmanagers(t *testing.T, name string) amAlert {
	t.Helper()
	found := make([]amAlert, len(s.amURLs))
	for i := range s.amURLs {
		testkit.WaitFor(t, fmt.Sprintf("%s active in alertmanager-%d", name, i), alertTimeout, func() (bool, string) {
			alerts, err := s.amAlerts(i)
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, a := range alerts {
				if a.Labels["alertname"] == name && a.Status.State == "active" {
					found[i] = a
					return true, ""
				}
				seen = append(seen, a.Labels["alertname"]+"/"+a.Status.State)
			}
			return false, "alertmanager alerts: " + strings.Join(seen, " ")
		})
	}
	for i, a := range found[1:] {
		if a.Fingerprint != found[0].Fingerprint || !a.StartsAt.Equal(found[0].StartsAt) {
			t.Errorf("%s: alertmanager-%d holds %s@%s, alertmanager-0 %s@%s", name, i+1, a.Fingerprint, a.StartsAt, found[0].Fingerprint, found[0].StartsAt)
		}
	}
	t.Logf("%s active in all %d Alertmanagers (fingerprint %s, receiver %v)", name, len(found), found[0].Fingerprint, found[0].Receivers)
	return found[0]
}

// checkStoredOnce asserts the service holds exactly one record of the
// alert (fingerprint + startsAt) although two Alertmanagers sent it, and
// logs its deliveries.
func (s *stack) checkStoredOnce(t *testing.T, a ordersvc.Alert, am amAlert) {
	t.Helper()
	alerts, err := s.storedAlerts()
	if err != nil {
		t.Fatal(err)
	}
	var same []ordersvc.Alert
	for _, b := range alerts {
		// Within a second: a record differing only in timestamp precision
		// (say, one per Alertmanager) is a duplicate too.
		if b.Fingerprint == a.Fingerprint && b.StartsAt.Sub(am.StartsAt).Abs() < time.Second {
			same = append(same, b)
		}
	}
	if len(same) != 1 {
		t.Errorf("GET /alerts holds %d records of %s %s@%s, want exactly 1: %+v", len(same), a.Labels["alertname"], a.Fingerprint, am.StartsAt, same)
		return
	}
	t.Logf("%s %s@%s stored once: deliveries %d (every firing and resolved notification of either Alertmanager), first %s, last %s",
		a.Labels["alertname"], a.Fingerprint, a.StartsAt.Format(time.RFC3339Nano), same[0].Deliveries,
		same[0].FirstReceivedAt.Format(time.TimeOnly), same[0].LastReceivedAt.Format(time.TimeOnly))
}

// logNotifications logs how many webhook notifications each Alertmanager
// has sent, as Prometheus scraped them: with a settled cluster the pair
// shares the work through the gossiped notification log, and any
// duplicate is absorbed by the receiver.
func (s *stack) logNotifications(t *testing.T) {
	t.Helper()
	v, err := s.promQuery(`sum by (instance) (alertmanager_notifications_total{job="alertmanager", integration="webhook"})`)
	if err != nil {
		t.Logf("webhook notifications per Alertmanager: %v", err)
		return
	}
	counts := map[string]any{}
	for _, smp := range v {
		counts[smp.Metric["instance"]] = smp.Value[1]
	}
	t.Logf("webhook notifications sent so far per Alertmanager (all receivers): %v", counts)
}

// checkSentryPanics waits for the injected panics' events: level fatal,
// with the route-named transaction.
func (s *stack) checkSentryPanics(t *testing.T) {
	t.Helper()
	var fatal []sentrytest.Event
	_, err := testkit.Poll(sentryTimeout, func() (bool, string) {
		evs, err := s.sink.Events("event")
		if err != nil {
			return false, err.Error()
		}
		fatal = fatal[:0]
		for _, ev := range evs {
			if ev.Level == "fatal" {
				fatal = append(fatal, ev)
			}
		}
		return slices.ContainsFunc(fatal, func(ev sentrytest.Event) bool { return ev.Transaction == "POST /orders" }),
			fmt.Sprintf("%d events, %d fatal", len(evs), len(fatal))
	})
	if err != nil {
		t.Errorf("no fatal Sentry event with transaction \"POST /orders\": %v", err)
		return
	}
	byTx := map[string]int{}
	for _, ev := range fatal {
		byTx[ev.Transaction]++
	}
	t.Logf("Sentry sink: %d fatal panic events by transaction %v", len(fatal), byTx)
}

// forwardedAlertEvents returns the sink's events whose fingerprint marks
// them as a forwarded Alertmanager alert called name.
func (s *stack) forwardedAlertEvents(name string) ([]sentrytest.Event, error) {
	evs, err := s.sink.Events("event")
	if err != nil {
		return nil, err
	}
	var out []sentrytest.Event
	for _, ev := range evs {
		if len(ev.Fingerprint) >= 2 && ev.Fingerprint[0] == "alertmanager" && ev.Fingerprint[1] == name {
			out = append(out, ev)
		}
	}
	return out, nil
}

// waitForwardedAlert waits for the Sentry event the service forwards for a
// firing critical alert: fingerprint ["alertmanager", alertname, grouping
// label values…], level error. It reports an error (and returns nil) if
// none arrives, and goes on: the rest of the path is worth checking.
func (s *stack) waitForwardedAlert(t *testing.T, name string, a ordersvc.Alert) *sentrytest.Event {
	t.Helper()
	var evs []sentrytest.Event
	_, err := testkit.Poll(sentryTimeout, func() (bool, string) {
		var err error
		evs, err = s.forwardedAlertEvents(name)
		if err != nil {
			return false, err.Error()
		}
		return len(evs) > 0, fmt.Sprintf("%d events in the sink, none with fingerprint [alertmanager %s …]", s.sink.Count("event"), name)
	})
	if err != nil {
		t.Errorf("the firing critical alert %s did not reach Sentry (is handlers.Deps.AlertForwarder wired in cmd/server?): %v", name, err)
		return nil
	}
	ev := evs[0]
	if ev.Level != "error" {
		t.Errorf("forwarded %s event has level %q, want error", name, ev.Level)
	}
	// The rest of the fingerprint is the values of the grouping labels
	// (alertname, job, severity), so repeats group into one issue.
	for _, l := range []string{"job", "severity"} {
		v := a.Labels[l]
		if !slices.ContainsFunc(ev.Fingerprint[2:], func(f string) bool { return f == v || strings.HasSuffix(f, "="+v) }) {
			t.Errorf("forwarded %s event fingerprint %q lacks the grouping label %s=%q", name, ev.Fingerprint, l, v)
		}
	}
	t.Logf("Sentry sink: forwarded %s event %s, level %s, fingerprint %q", name, ev.EventID, ev.Level, ev.Fingerprint)
	return &ev
}

// checkForwardedOnce asserts that one firing episode of the alert reached
// Sentry as one event, although two Alertmanagers delivered it, repeatedly.
func (s *stack) checkForwardedOnce(t *testing.T, name string) {
	t.Helper()
	evs, err := s.forwardedAlertEvents(name)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := s.storedAlerts()
	if err != nil {
		t.Fatal(err)
	}
	episodes := 0
	for _, a := range alerts {
		if a.Labels["alertname"] == name {
			episodes++
		}
	}
	if len(evs) != episodes {
		t.Errorf("Sentry holds %d forwarded %s events for %d stored firing episodes, want one per episode", len(evs), name, episodes)
		return
	}
	t.Logf("Sentry sink: %d forwarded %s event(s) for %d firing episode(s)", len(evs), name, episodes)
}

// allowedEmptyPanels lists the dashboard queries ("dashboard uid/panel
// id/ref id") that may legitimately return no series in this run, and
// why. Every other Prometheus query must return at least one.
var allowedEmptyPanels = map[string]string{
	// The traffic includes rejected orders (404s), the faults include 5xx
	// and panics, alerts reach the webhook, and every counter the dashboard
	// reads is pre-initialised, so every other panel has data. These read
	// postgres_exporter (job postgres), which this SQLite stack does not
	// run; rules/testdata/dashboard_database.test evaluates them.
	"ordersvc/38/A": "postgres_exporter: PostgreSQL up",
	"ordersvc/39/A": "postgres_exporter: connections",
	"ordersvc/40/A": "postgres_exporter: commits/s",
	"ordersvc/40/B": "postgres_exporter: rollbacks/s",
	"ordersvc/41/A": "postgres_exporter: deadlocks",
}

// checkDashboards renders every Prometheus query of every provisioned
// dashboard, as Grafana would over the time the stack has run, and runs it
// against the stack's Prometheus: each must parse and evaluate, and return
// data unless listed in allowedEmptyPanels.
func (s *stack) checkDashboards(t *testing.T) {
	t.Helper()
	ds, err := dashboards.Load(testkit.RepoFile(t, "grafana/dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	env := dashboards.Env{
		// The dashboard's range covers the whole run.
		Range: time.Since(s.started).Truncate(time.Second) + time.Second,
		// Grafana's step is at least the datasource's scrape interval;
		// $__rate_interval is then 4 × scrape = 4s.
		Interval:       scrapeInterval,
		ScrapeInterval: scrapeInterval,
	}
	var table strings.Builder
	fmt.Fprintf(&table, "  %-10s %-5s %-44s %-3s %7s\n", "dashboard", "panel", "title", "ref", "series")
	n := 0
	for _, d := range ds {
		for _, q := range d.Queries() {
			key := fmt.Sprintf("%s/%d/%s", q.Dashboard, q.PanelID, q.RefID)
			if q.Datasource.UID != "prometheus" && q.Datasource.Type != "prometheus" {
				t.Logf("skip %s: datasource %+v is not Prometheus", q, q.Datasource)
				continue
			}
			n++
			expr, err := d.Render(q, env, map[string]string{"job": "ordersvc"})
			if err != nil {
				t.Errorf("render: %v", err)
				continue
			}
			count, nan, err := s.promInstant(expr)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			note := ""
			if nan > 0 {
				note = fmt.Sprintf(" (%d NaN)", nan)
			}
			if why, ok := allowedEmptyPanels[key]; ok {
				note += " (may be empty: " + why + ")"
			} else if count == 0 {
				t.Errorf("%s returned no series; expression:\n%s", q, expr)
				note += "  <-- EMPTY"
			}
			fmt.Fprintf(&table, "  %-10s %-5d %-44s %-3s %7d%s\n", q.Dashboard, q.PanelID, truncate(q.Title, 44), q.RefID, count, note)
		}
	}
	if n == 0 {
		t.Error("the dashboards have no Prometheus query")
	}
	t.Logf("dashboard queries (range %s, $__rate_interval 4s):\n%s", env.Range, table.String())
}

// promInstant runs a query of any result type at the current time and
// returns how many series (or values) it returned and how many are NaN.
func (s *stack) promInstant(q string) (count, nan int, err error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, raw, err := doJSON(ctx, "GET", s.promURL+"/api/v1/query?query="+url.QueryEscape(q), "", nil, &r)
	if err != nil {
		return 0, 0, err
	}
	if code != 200 || r.Status != "success" {
		return 0, 0, fmt.Errorf("query failed: %d %s", code, truncate(string(raw), 500))
	}
	switch r.Data.ResultType {
	case "vector":
		var v []promSample
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return 0, 0, err
		}
		for _, smp := range v {
			if str, _ := smp.Value[1].(string); isNaN(str) {
				nan++
			}
		}
		return len(v), nan, nil
	case "matrix":
		var m []json.RawMessage
		err := json.Unmarshal(r.Data.Result, &m)
		return len(m), 0, err
	case "scalar", "string":
		return 1, 0, nil
	}
	return 0, 0, fmt.Errorf("unknown result type %q", r.Data.ResultType)
}

// isNaN reports whether a Prometheus sample value is NaN.
func isNaN(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && math.IsNaN(f)
}
