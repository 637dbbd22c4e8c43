package alertmanager_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// specAlerts pins, for every alert of SPEC §5, the receiver it must reach.
// The rules files must contain at least these (alertname, severity) pairs.
var specAlerts = []struct {
	alert, severity, receiver string
}{
	{"HighErrorRate", "critical", rcvPaging},
	{"SlowResponseTime", "warning", rcvTicket},
	{"ErrorBudgetBurn", "critical", rcvPaging},
	{"ErrorBudgetBurn", "warning", rcvTicket},
	{"TargetDown", "critical", rcvPaging},
	{"TargetMissing", "critical", rcvPaging},
	{"PanicsDetected", "warning", rcvTicket},
	{"InventoryLow", "warning", rcvTicket},
	{"OutOfStock", "info", rcvLowPriority},
	{"Watchdog", "none", rcvHeartbeat},
	{"DatabaseDown", "critical", rcvPaging},
	{"PostgresDown", "critical", rcvPaging},
	{"ErrorTrackingDropping", "warning", rcvTicket},
	// Self-monitoring. An Alertmanager that fails cannot deliver its own
	// alerts; what still reaches a person then is the service's dead man's
	// switch (no Watchdog heartbeat → "alerting pipeline silent" to Sentry).
	{"PrometheusBadConfig", "critical", rcvPaging},
	{"PrometheusRuleFailures", "critical", rcvPaging},
	{"PrometheusNotConnectedToAlertmanagers", "warning", rcvTicket},
	{"PrometheusErrorSendingAlertsToSomeAlertmanagers", "warning", rcvTicket},
	{"AlertmanagerFailedReload", "critical", rcvPaging},
	{"AlertmanagerMembersInconsistent", "critical", rcvPaging},
	{"AlertmanagerFailedToSendAlerts", "warning", rcvTicket},
}

// policyReceiver is the routing policy alertmanager.yml implements, used for
// alerts in rules/*.yml beyond those pinned in specAlerts.
func policyReceiver(ls model.LabelSet) string {
	if ls[model.AlertNameLabel] == "Watchdog" {
		return rcvHeartbeat
	}
	switch ls["severity"] {
	case "critical":
		return rcvPaging
	case "warning":
		return rcvTicket
	case "info":
		return rcvLowPriority
	}
	return rcvCatchAll
}

// pinnedReceiver returns the receiver specAlerts pins for an alert, or "".
func pinnedReceiver(alert, severity string) string {
	for _, s := range specAlerts {
		if s.alert == alert && s.severity == severity {
			return s.receiver
		}
	}
	return ""
}

// receiversOf returns the receivers an alert with the given labels is sent
// to, in routing-tree order, exactly as Alertmanager's dispatcher decides.
func receiversOf(root *dispatch.Route, ls model.LabelSet) []string {
	var out []string
	for _, r := range root.Match(ls) {
		out = append(out, r.RouteOpts.Receiver)
	}
	return out
}

// routeCase is one expectation: an alert's labels and its only receiver.
type routeCase struct {
	name   string
	labels model.LabelSet
	want   string
}

// routingProblems routes every case through the tree and describes each one
// that does not reach exactly its expected receiver.
func routingProblems(root *dispatch.Route, cases []routeCase) []string {
	var problems []string
	for _, c := range cases {
		got := receiversOf(root, c.labels)
		if len(got) != 1 || got[0] != c.want {
			problems = append(problems, fmt.Sprintf("%s: reached %v, want exactly [%s]", c.name, got, c.want))
		}
	}
	return problems
}

// specCases turns specAlerts into routing cases for the service's job.
func specCases() []routeCase {
	cases := make([]routeCase, 0, len(specAlerts))
	for _, s := range specAlerts {
		cases = append(cases, routeCase{
			name:   s.alert + "/" + s.severity,
			labels: lset("alertname", s.alert, "severity", s.severity, "job", serviceJob),
			want:   s.receiver,
		})
	}
	return cases
}

// missingSpecAlerts returns the alertname/severity pairs of specAlerts that
// no rule in alerts provides.
func missingSpecAlerts(alerts []ruleAlert) []string {
	var missing []string
	for _, s := range specAlerts {
		found := slices.ContainsFunc(alerts, func(a ruleAlert) bool {
			return a.Name == s.alert && a.Severity() == s.severity
		})
		if !found {
			missing = append(missing, s.alert+"/"+s.severity)
		}
	}
	return missing
}

// TestMissingSpecAlerts proves the rules coverage check can fail: an empty
// rules directory, or one rule with the wrong severity, is reported.
func TestMissingSpecAlerts(t *testing.T) {
	complete := make([]ruleAlert, 0, len(specAlerts))
	for _, s := range specAlerts {
		complete = append(complete, ruleAlert{Name: s.alert, Labels: lset("alertname", s.alert, "severity", s.severity)})
	}
	wrongSeverity := slices.Clone(complete)
	wrongSeverity[0] = ruleAlert{Name: "HighErrorRate", Labels: lset("alertname", "HighErrorRate", "severity", "warning")}
	empty := ruleAlerts(nil, serviceJob)
	tests := []struct {
		name   string
		alerts []ruleAlert
		want   int
	}{
		{"no rule files", empty, len(specAlerts)},
		{"every SPEC alert present", complete, 0},
		{"HighErrorRate with the wrong severity", wrongSeverity, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingSpecAlerts(tc.alerts); len(got) != tc.want {
				t.Errorf("missing = %v, want %d missing", got, tc.want)
			}
		})
	}
}

// ruleCases returns one routing case per alerting rule of the rule files
// (testkit.RuleFiles). It fails the test if any alert of specAlerts is
// missing, so an incomplete rules directory cannot pass (testkit fails an
// empty one).
func ruleCases(t *testing.T) []routeCase {
	t.Helper()
	alerts := ruleAlerts(testkit.RuleFiles(t), serviceJob)
	if missing := missingSpecAlerts(alerts); len(missing) > 0 {
		t.Fatalf("rules/*.yml: no alerting rule for %v", missing)
	}
	cases := make([]routeCase, 0, len(alerts))
	for _, a := range alerts {
		want := pinnedReceiver(a.Name, a.Severity())
		if want == "" {
			want = policyReceiver(a.Labels)
		}
		cases = append(cases, routeCase{
			name:   fmt.Sprintf("%s/%s (%s)", a.Name, a.Severity(), a.File),
			labels: a.Labels,
			want:   want,
		})
	}
	return cases
}

// TestRoutingTable routes every alerting rule in rules/*.yml through the
// configured tree and pins its receiver; `go test -v` prints the table.
func TestRoutingTable(t *testing.T) {
	root := dispatch.NewRoute(loadConfig(t).Route, nil)
	cases := ruleCases(t)

	type row struct{ alert, severity, receivers string }
	var rows []row
	for _, c := range cases {
		got := receiversOf(root, c.labels)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: reached %v, want exactly [%s]", c.name, got, c.want)
		}
		r := row{string(c.labels[model.AlertNameLabel]), string(c.labels["severity"]), strings.Join(got, ",")}
		if !slices.Contains(rows, r) {
			rows = append(rows, r)
		}
	}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tSEVERITY\tRECEIVER")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.alert, r.severity, r.receivers)
	}
	_ = tw.Flush()
	t.Logf("routing table (job=%s, %d rules):\n%s", serviceJob, len(cases), b.String())
}

// TestRoutingTableAmtool checks the same table with the pinned amtool binary
// (`amtool config routes test --verify.receivers`), i.e. the way an operator
// would verify the file, independently of this test's Go dependency graph.
func TestRoutingTableAmtool(t *testing.T) {
	cases := append(ruleCases(t), edgeCases()...)
	for _, c := range cases {
		args := append([]string{"config", "routes", "test",
			"--config.file=" + configPath(t), "--verify.receivers=" + c.want},
			sortedLabelArgs(c.labels)...)
		out, err := testkit.RunTool(t, "", "amtool", args...)
		if err != nil {
			t.Errorf("%s: %v\n%s", c.name, err, out)
			continue
		}
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("%s: amtool resolved %q, want %q", c.name, got, c.want)
		}
	}
}

// edgeCases are alerts the rules do not (yet) produce; they pin the
// behaviour for mistakes and for the order of the routes.
func edgeCases() []routeCase {
	return []routeCase{
		{"unknown alert, unknown severity", lset("alertname", "SomethingNew", "severity", "urgent", "job", serviceJob), rcvCatchAll},
		{"no severity label", lset("alertname", "HighErrorRate", "job", serviceJob), rcvCatchAll},
		{"severity none but not the Watchdog", lset("alertname", "Heartbeat2", "severity", "none", "job", serviceJob), rcvCatchAll},
		{"severity is case sensitive", lset("alertname", "HighErrorRate", "severity", "Critical", "job", serviceJob), rcvCatchAll},
		{"no labels at all", lset(), rcvCatchAll},
		{"Watchdog wins over its severity", lset("alertname", "Watchdog", "severity", "critical", "job", serviceJob), rcvHeartbeat},
		{"Watchdog without job", lset("alertname", "Watchdog", "severity", "none"), rcvHeartbeat},
		{"critical of another job still pages", lset("alertname", "HighErrorRate", "severity", "critical", "job", "other"), rcvPaging},
		{"info with extra labels", lset("alertname", "OutOfStock", "severity", "info", "job", serviceJob, "product_id", "sku-1"), rcvLowPriority},
	}
}

// TestRoutingEdgeCases pins where unusual alerts go, and that unrouted
// alerts are taken by the explicit last route rather than falling back to
// the root.
func TestRoutingEdgeCases(t *testing.T) {
	root := dispatch.NewRoute(loadConfig(t).Route, nil)
	last := root.Routes[len(root.Routes)-1]
	for _, c := range edgeCases() {
		t.Run(c.name, func(t *testing.T) {
			matched := root.Match(c.labels)
			got := receiversOf(root, c.labels)
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("%v reached %v, want exactly [%s]", c.labels, got, c.want)
			}
			if c.want == rcvCatchAll && matched[0] != last {
				t.Errorf("%v reached %s via route %s, want the explicit last route %s", c.labels, c.want, matched[0].Key(), last.Key())
			}
		})
	}
}

// TestRoutingChecksCanFail proves the routing assertions detect the classic
// routing mistakes: each mutation of the real config must break at least
// one SPEC alert's routing.
func TestRoutingChecksCanFail(t *testing.T) {
	byReceiver := func(r *amconfig.Route, name string) *amconfig.Route {
		for _, c := range r.Routes {
			if c.Receiver == name {
				return c
			}
		}
		t.Fatalf("no child route with receiver %q", name)
		return nil
	}
	tests := []struct {
		name   string
		mutate func(r *amconfig.Route)
	}{
		{"continue on the paging route falls through to the catch-all", func(r *amconfig.Route) {
			byReceiver(r, rcvPaging).Continue = true
		}},
		{"continue on the heartbeat route lets severity routes see it", func(r *amconfig.Route) {
			byReceiver(r, rcvHeartbeat).Continue = true
		}},
		{"catch-all first swallows everything", func(r *amconfig.Route) {
			n := len(r.Routes)
			r.Routes = append([]*amconfig.Route{r.Routes[n-1]}, r.Routes[:n-1]...)
		}},
		{"heartbeat route missing", func(r *amconfig.Route) {
			r.Routes = slices.DeleteFunc(r.Routes, func(c *amconfig.Route) bool { return c.Receiver == rcvHeartbeat })
		}},
		{"warning routed to paging", func(r *amconfig.Route) {
			byReceiver(r, rcvTicket).Receiver = rcvPaging
		}},
		{"info route missing", func(r *amconfig.Route) {
			r.Routes = slices.DeleteFunc(r.Routes, func(c *amconfig.Route) bool { return c.Receiver == rcvLowPriority })
		}},
	}
	// The unmodified config must pass, or the mutations prove nothing.
	if p := routingProblems(dispatch.NewRoute(loadConfig(t).Route, nil), specCases()); len(p) > 0 {
		t.Fatalf("unmodified config fails: %v", p)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t)
			tc.mutate(cfg.Route)
			problems := routingProblems(dispatch.NewRoute(cfg.Route, nil), specCases())
			if len(problems) == 0 {
				t.Fatal("mutation not detected by the routing checks")
			}
			t.Logf("detected: %s", problems[0])
		})
	}
}

// TestRouteTree checks properties of the whole tree: grouping, no
// fall-through, an explicit catch-all last, every receiver used, and timings
// that suit each receiver.
func TestRouteTree(t *testing.T) {
	cfg := loadConfig(t)
	root := dispatch.NewRoute(cfg.Route, nil)

	wantGroupBy := []model.LabelName{"alertname", "job", "severity"}
	used := map[string]bool{}
	opts := map[string]dispatch.RouteOpts{}
	root.Walk(func(r *dispatch.Route) {
		used[r.RouteOpts.Receiver] = true
		if r != root {
			opts[r.RouteOpts.Receiver] = r.RouteOpts
		}
		if r.RouteOpts.GroupByAll {
			t.Errorf("route %s groups by all labels", r.Key())
		}
		var got []model.LabelName
		for ln := range r.RouteOpts.GroupBy {
			got = append(got, ln)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantGroupBy) {
			t.Errorf("route %s groups by %v, want %v", r.Key(), got, wantGroupBy)
		}
		if r.Continue {
			t.Errorf("route %s has continue: true; every alert must reach exactly one receiver", r.Key())
		}
		if len(r.Routes) > 0 && r != root {
			t.Errorf("route %s has nested routes; keep the tree flat", r.Key())
		}
	})

	last := root.Routes[len(root.Routes)-1]
	if len(last.Matchers) != 0 || last.RouteOpts.Receiver != rcvCatchAll {
		t.Errorf("last route = receiver %q with matchers %v, want the matcher-less %q", last.RouteOpts.Receiver, last.Matchers, rcvCatchAll)
	}
	for _, rc := range cfg.Receivers {
		if !used[rc.Name] {
			t.Errorf("receiver %q is defined but no route uses it", rc.Name)
		}
	}

	tests := []struct {
		receiver                 string
		maxGroupWait             time.Duration
		minRepeat, maxRepeat     time.Duration
		minGroupInt, maxGroupInt time.Duration
	}{
		// The heartbeat must arrive steadily: no wait, repeated within minutes.
		{rcvHeartbeat, 0, time.Minute, 5 * time.Minute, time.Minute, time.Minute},
		// Pages go out fast and are repeated while the problem lasts.
		{rcvPaging, 30 * time.Second, 30 * time.Minute, 4 * time.Hour, time.Minute, 5 * time.Minute},
		// Tickets and low-priority notes batch and repeat rarely.
		{rcvTicket, 5 * time.Minute, 4 * time.Hour, 24 * time.Hour, 5 * time.Minute, 30 * time.Minute},
		{rcvLowPriority, 10 * time.Minute, 12 * time.Hour, 48 * time.Hour, 10 * time.Minute, time.Hour},
		{rcvCatchAll, time.Minute, time.Hour, 12 * time.Hour, time.Minute, 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.receiver, func(t *testing.T) {
			o, ok := opts[tc.receiver]
			if !ok {
				t.Fatalf("no route for receiver %q", tc.receiver)
			}
			if o.GroupWait > tc.maxGroupWait {
				t.Errorf("group_wait %v > %v", o.GroupWait, tc.maxGroupWait)
			}
			if o.GroupInterval < tc.minGroupInt || o.GroupInterval > tc.maxGroupInt {
				t.Errorf("group_interval %v outside [%v, %v]", o.GroupInterval, tc.minGroupInt, tc.maxGroupInt)
			}
			if o.RepeatInterval < tc.minRepeat || o.RepeatInterval > tc.maxRepeat {
				t.Errorf("repeat_interval %v outside [%v, %v]", o.RepeatInterval, tc.minRepeat, tc.maxRepeat)
			}
			// Notifications are only sent on group_interval ticks, so a
			// shorter repeat_interval would promise what cannot happen.
			if o.RepeatInterval < o.GroupInterval {
				t.Errorf("repeat_interval %v < group_interval %v", o.RepeatInterval, o.GroupInterval)
			}
		})
	}
}
