package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ordersvc/ordersvc/internal/promrefs"
)

// specAlerts is SPEC.md §5: every alert, the severities it may carry and
// the `for` duration its definition implies (0 = fires at once).
var specAlerts = map[string]struct {
	severities []string
	forDur     time.Duration
}{
	"HighErrorRate":    {[]string{"critical"}, 2 * time.Minute},
	"SlowResponseTime": {[]string{"warning"}, 5 * time.Minute},
	"ErrorBudgetBurn":  {[]string{"critical", "warning"}, -1}, // `for` not fixed by the spec
	"TargetDown":       {[]string{"critical"}, time.Minute},
	"TargetMissing":    {[]string{"critical"}, 5 * time.Minute},
	"PanicsDetected":   {[]string{"warning"}, 0},
	"InventoryLow":     {[]string{"warning"}, 10 * time.Minute},
	"OutOfStock":       {[]string{"info"}, 10 * time.Minute},
	"Watchdog":         {[]string{"none"}, 0},
	"DatabaseDown":     {[]string{"critical"}, time.Minute},
	"PostgresDown":     {[]string{"critical"}, time.Minute},
	// "any increase in the last 15m": the window is in the expression.
	"ErrorTrackingDropping": {[]string{"warning"}, 0},

	// Watching the watchers: the spec fixes the names and the upstream
	// mixins' meaning; severities and `for` are the mixins'.
	"PrometheusBadConfig":                             {[]string{"critical"}, 10 * time.Minute},
	"PrometheusRuleFailures":                          {[]string{"critical"}, 15 * time.Minute},
	"PrometheusNotConnectedToAlertmanagers":           {[]string{"warning"}, 10 * time.Minute},
	"PrometheusErrorSendingAlertsToSomeAlertmanagers": {[]string{"warning"}, 15 * time.Minute},
	"AlertmanagerFailedReload":                        {[]string{"critical"}, 10 * time.Minute},
	"AlertmanagerFailedToSendAlerts":                  {[]string{"warning"}, 5 * time.Minute},
	"AlertmanagerMembersInconsistent":                 {[]string{"critical"}, 15 * time.Minute},
}

// metricSource says who exports a metric the rules name, and therefore
// which job its selectors must pin.
type metricSource struct {
	exporter string // "ordersvc", "prometheus", "alertmanager", "postgres_exporter"
	job      string // the scrape job every selector of the metric pins
}

var (
	fromService      = metricSource{"ordersvc", "ordersvc"}
	fromPrometheus   = metricSource{"prometheus", "prometheus"}
	fromAlertmanager = metricSource{"alertmanager", "alertmanager"}
)

// ruleMetrics is every raw metric family the rules may name. The service's
// are SPEC.md §4's (plus sentry_events_dropped_total, SPEC §5), proven
// exported by internal/crossref against the service's registry; the
// Prometheus and Alertmanager ones are proven exported by the pinned
// binaries in selfmonitoring_test.go; pg_up is postgres_exporter's.
var ruleMetrics = map[string]metricSource{
	"http_requests_total":           fromService,
	"http_request_duration_seconds": fromService,
	"http_requests_in_flight":       fromService,
	"orders_created_total":          fromService,
	"order_revenue_total":           fromService,
	"orders_rejected_total":         fromService,
	"inventory_level":               fromService,
	"db_query_duration_seconds":     fromService,
	"panics_recovered_total":        fromService,
	"alerts_received_total":         fromService,
	"app_build_info":                fromService,
	"db_up":                         fromService,
	"sentry_events_dropped_total":   fromService,
	// Prometheus records `up` for every target; the rules read the
	// service's.
	"up": {"prometheus (per scrape target)", "ordersvc"},

	"pg_up": {"postgres_exporter", "postgres"},

	"prometheus_config_last_reload_successful":          fromPrometheus,
	"prometheus_rule_evaluation_failures_total":         fromPrometheus,
	"prometheus_notifications_alertmanagers_discovered": fromPrometheus,
	"prometheus_notifications_errors_total":             fromPrometheus,
	"prometheus_notifications_sent_total":               fromPrometheus,

	"alertmanager_config_last_reload_successful": fromAlertmanager,
	"alertmanager_notifications_failed_total":    fromAlertmanager,
	"alertmanager_notifications_total":           fromAlertmanager,
	"alertmanager_cluster_members":               fromAlertmanager,
}

// metricSourceOf looks a series name up in ruleMetrics, histogram series
// (x_bucket, x_sum, x_count) under their family.
func metricSourceOf(name string) (metricSource, bool) {
	if s, ok := ruleMetrics[name]; ok {
		return s, true
	}
	s, ok := ruleMetrics[promrefs.BaseName(name)]
	return s, ok
}

// sloWindows are the windows of the SLO error-ratio recording rules.
var sloWindows = []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"}

// allRules flattens the parsed rule files.
func allRules(files []parsedFile) []rulefmt.Rule {
	var out []rulefmt.Rule
	for _, f := range files {
		for _, g := range f.groups.Groups {
			out = append(out, g.Rules...)
		}
	}
	return out
}

// TestAlertsMatchSpec checks every alerting rule against SPEC.md §5: the set
// of alert names is exactly the spec's, severities are the spec's, and every
// alert has summary, description and a runbook_url pointing at its own
// runbook, which exists.
func TestAlertsMatchSpec(t *testing.T) {
	root := repoRoot(t)
	severities := map[string][]string{}
	for _, r := range allRules(parseRuleFiles(t)) {
		if r.Alert == "" {
			continue
		}
		t.Run(r.Alert+"/"+r.Labels["severity"], func(t *testing.T) {
			spec, ok := specAlerts[r.Alert]
			if !ok {
				t.Fatalf("alert %s is not in the specification", r.Alert)
			}
			sev := r.Labels["severity"]
			if !slices.Contains(spec.severities, sev) {
				t.Errorf("severity %q, want one of %v", sev, spec.severities)
			}
			if slices.Contains(severities[r.Alert], sev) {
				t.Errorf("two rules with severity %q", sev)
			}
			severities[r.Alert] = append(severities[r.Alert], sev)
			if spec.forDur >= 0 && time.Duration(r.For) != spec.forDur {
				t.Errorf("for = %v, want %v", time.Duration(r.For), spec.forDur)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("annotation %s is missing", a)
				}
			}
			if want := runbookBase + r.Alert + ".md"; r.Annotations["runbook_url"] != want {
				t.Errorf("runbook_url = %q, want %q", r.Annotations["runbook_url"], want)
			}
			runbook := filepath.Join(root, "docs", "runbooks", r.Alert+".md")
			b, err := os.ReadFile(runbook)
			if err != nil {
				t.Fatalf("runbook: %v", err)
			}
			if !strings.HasPrefix(string(b), "# "+r.Alert+"\n") {
				t.Errorf("%s does not start with the heading \"# %s\"", runbook, r.Alert)
			}
			for _, section := range []string{"## What it means", "## Confirm"} {
				if !strings.Contains(string(b), section) {
					t.Errorf("%s has no %q section", runbook, section)
				}
			}
			if !strings.Contains(string(b), "```promql") {
				t.Errorf("%s shows no PromQL to confirm the alert", runbook)
			}
		})
	}
	var got []string
	for name, sevs := range severities {
		got = append(got, name)
		want := slices.Clone(specAlerts[name].severities)
		slices.Sort(sevs)
		slices.Sort(want)
		if !slices.Equal(sevs, want) {
			t.Errorf("%s has severities %v, want %v", name, sevs, want)
		}
	}
	var want []string
	for name := range specAlerts {
		want = append(want, name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("alerts = %v, want exactly %v", got, want)
	}
}

// TestRunbooksBelongToAlerts makes sure docs/runbooks/ has no runbook for an
// alert that does not exist (a renamed alert leaves one behind).
func TestRunbooksBelongToAlerts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "runbooks", "*.md"))
	if err != nil {
		t.Fatalf("glob runbooks: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no runbooks in docs/runbooks/")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".md")
		if _, ok := specAlerts[name]; !ok {
			t.Errorf("runbook %s has no alert", f)
		}
	}
}

// TestSLORecordingRules checks the recording rules the burn-rate alerts
// need: one per window, named level:metric:operations, and every recorded
// name an expression uses is recorded somewhere.
func TestSLORecordingRules(t *testing.T) {
	files := parseRuleFiles(t)
	recorded := map[string]bool{}
	for _, r := range allRules(files) {
		if r.Record == "" {
			continue
		}
		if recorded[r.Record] {
			t.Errorf("%s is recorded twice", r.Record)
		}
		recorded[r.Record] = true
		if parts := strings.Split(r.Record, ":"); len(parts) != 3 || parts[0] != "job" {
			t.Errorf("%s is not named job:<metric>:<operations>", r.Record)
		}
	}
	for _, w := range sloWindows {
		name := "job:http_requests_errors:ratio_rate" + w
		if !recorded[name] {
			t.Errorf("no recording rule %s", name)
		}
	}
	for _, r := range allRules(files) {
		names, err := promrefs.MetricNames(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", ruleName(r), err)
			continue
		}
		for _, n := range names {
			if strings.Contains(n, ":") && !recorded[n] {
				t.Errorf("%s uses %s, which no rule records", ruleName(r), n)
			}
		}
	}
}

// TestRulesNameSpecMetrics runs internal/promrefs over every expression:
// each parses, names at least one metric (except the heartbeat), and every
// raw metric it names is in ruleMetrics (or a histogram series of one).
// Whether they are really exported is proven elsewhere: the service's
// against its registry (internal/crossref), Prometheus' and Alertmanager's
// against the pinned binaries (selfmonitoring_test.go).
func TestRulesNameSpecMetrics(t *testing.T) {
	for _, r := range allRules(parseRuleFiles(t)) {
		names, err := promrefs.MetricNames(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", ruleName(r), err)
			continue
		}
		if len(names) == 0 && r.Alert != "Watchdog" {
			t.Errorf("%s names no metric", ruleName(r))
		}
		for _, n := range names {
			if strings.Contains(n, ":") {
				continue
			}
			if _, ok := metricSourceOf(n); !ok {
				t.Errorf("%s names %s, which is not in ruleMetrics", ruleName(r), n)
			}
		}
	}
}

// ruleName names a rule in failure messages.
func ruleName(r rulefmt.Rule) string {
	if r.Alert != "" {
		return fmt.Sprintf("alert %s (%s)", r.Alert, r.Labels["severity"])
	}
	return "record " + r.Record
}

// TestExpressionsAggregateCorrectly walks every expression's syntax tree:
// aggregations keep `job`, quantiles are computed from buckets summed by
// `le`, every selector is scoped to the job of its exporter (job="ordersvc"
// for the service's metrics, "prometheus", "alertmanager", "postgres"), so
// another job exporting a metric of the same name cannot trigger an alert,
// and ratios are never taken between unaggregated series.
func TestExpressionsAggregateCorrectly(t *testing.T) {
	for _, r := range allRules(parseRuleFiles(t)) {
		t.Run(ruleName(r), func(t *testing.T) {
			expr, err := parser.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				switch n := node.(type) {
				case *parser.AggregateExpr:
					if n.Without {
						if slices.Contains(n.Grouping, "job") {
							t.Errorf("%s drops job", n)
						}
					} else if !slices.Contains(n.Grouping, "job") {
						t.Errorf("%s does not keep job", n)
					}
				case *parser.Call:
					if n.Func.Name == "histogram_quantile" {
						agg, ok := unwrapParens(n.Args[1]).(*parser.AggregateExpr)
						if !ok || agg.Without || !slices.Contains(agg.Grouping, "le") {
							t.Errorf("%s: the buckets must be summed `by (…, le)`", n)
						}
					}
				case *parser.VectorSelector:
					if strings.Contains(n.Name, ":") {
						return nil
					}
					src, ok := metricSourceOf(n.Name)
					if !ok {
						t.Errorf("%s: metric not in ruleMetrics", n)
					} else if !hasMatcher(n.LabelMatchers, "job", src.job) {
						t.Errorf("%s is not scoped to job=%q", n, src.job)
					}
				case *parser.BinaryExpr:
					if n.Op == parser.DIV && isRawRate(n.LHS) && isRawRate(n.RHS) {
						t.Errorf("%s divides per-series rates; sum them first", n)
					}
				}
				return nil
			})
		})
	}
}

// unwrapParens strips parentheses around an expression.
func unwrapParens(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// isRawRate reports whether e is rate()/increase() straight over a selector.
func isRawRate(e parser.Expr) bool {
	c, ok := unwrapParens(e).(*parser.Call)
	return ok && (c.Func.Name == "rate" || c.Func.Name == "increase")
}

// hasMatcher reports whether ms contains name="value".
func hasMatcher(ms []*labels.Matcher, name, value string) bool {
	for _, m := range ms {
		if m.Name == name && m.Type == labels.MatchEqual && m.Value == value {
			return true
		}
	}
	return false
}

// templateLabel matches a label reference in an annotation template.
var templateLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// TestAnnotationsUseSurvivingLabels checks that annotations only refer to
// labels the alert's expression actually returns: a label aggregated away
// renders as an empty string in every notification.
func TestAnnotationsUseSurvivingLabels(t *testing.T) {
	files := parseRuleFiles(t)
	recorded := map[string]labelSet{}
	for _, r := range allRules(files) {
		if r.Record == "" {
			continue
		}
		expr, err := parser.ParseExpr(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", ruleName(r), err)
		}
		recorded[r.Record] = outputLabels(expr, recorded)
	}
	for _, r := range allRules(files) {
		if r.Alert == "" {
			continue
		}
		t.Run(ruleName(r), func(t *testing.T) {
			expr, err := parser.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out := outputLabels(expr, recorded)
			for name, text := range r.Annotations {
				for _, m := range templateLabel.FindAllStringSubmatch(text, -1) {
					l := m[1]
					if _, static := r.Labels[l]; static {
						continue
					}
					if !out.has(l) {
						t.Errorf("annotation %s uses $labels.%s, but the expression returns only %v", name, l, out)
					}
				}
			}
		})
	}
}

// labelSet is the set of labels an expression's result carries; all means
// "whatever the selected series carry" (a plain selector).
type labelSet struct {
	all    bool
	labels []string
}

// has reports whether the set may contain l.
func (s labelSet) has(l string) bool { return s.all || slices.Contains(s.labels, l) }

// String lists the set for failure messages.
func (s labelSet) String() string {
	if s.all {
		return "all labels of the selected series"
	}
	return fmt.Sprintf("%v", s.labels)
}

// outputLabels computes which labels the result of e carries, for the
// constructs the rules use. Recording rules resolve through recorded.
func outputLabels(e parser.Expr, recorded map[string]labelSet) labelSet {
	switch n := e.(type) {
	case *parser.ParenExpr:
		return outputLabels(n.Expr, recorded)
	case *parser.UnaryExpr:
		return outputLabels(n.Expr, recorded)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.VectorSelector:
		if s, ok := recorded[n.Name]; ok {
			return s
		}
		return labelSet{all: true}
	case *parser.MatrixSelector:
		return outputLabels(n.VectorSelector, recorded)
	case *parser.AggregateExpr:
		if n.Without {
			return labelSet{all: true}
		}
		return labelSet{labels: slices.Clone(n.Grouping)}
	case *parser.Call:
		switch n.Func.Name {
		case "vector", "time", "scalar":
			return labelSet{}
		case "absent", "absent_over_time":
			var ls []string
			parser.Inspect(n.Args[0], func(node parser.Node, _ []parser.Node) error {
				if vs, ok := node.(*parser.VectorSelector); ok {
					for _, m := range vs.LabelMatchers {
						if m.Type == labels.MatchEqual && m.Name != labels.MetricName {
							ls = append(ls, m.Name)
						}
					}
				}
				return nil
			})
			return labelSet{labels: ls}
		case "histogram_quantile":
			in := outputLabels(n.Args[1], recorded)
			if in.all {
				return in
			}
			return labelSet{labels: slices.DeleteFunc(slices.Clone(in.labels), func(l string) bool { return l == "le" })}
		}
		for _, a := range n.Args {
			if a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix {
				return outputLabels(a, recorded)
			}
		}
		return labelSet{}
	case *parser.BinaryExpr:
		lhs := outputLabels(n.LHS, recorded)
		rhs := outputLabels(n.RHS, recorded)
		switch {
		case n.LHS.Type() != parser.ValueTypeVector:
			return rhs
		case n.RHS.Type() != parser.ValueTypeVector:
			return lhs
		case n.Op == parser.LOR:
			// Either side may produce the element: only labels of both are sure.
			if lhs.all {
				return rhs
			}
			if rhs.all {
				return lhs
			}
			return labelSet{labels: slices.DeleteFunc(slices.Clone(lhs.labels), func(l string) bool { return !slices.Contains(rhs.labels, l) })}
		default:
			return lhs
		}
	}
	return labelSet{all: true}
}

// TestPromtoolTestsPinGroupOrder makes every promtool test file load every
// rule file Prometheus loads and evaluate the rule groups in file order
// (recording rules before the alerts that read them). Without
// group_eval_order promtool evaluates groups in random order, and `for`
// boundaries move by one evaluation from run to run; promtool ignores
// ordered groups that no loaded file defines, so a missing rule file would
// go unnoticed without the rule_files check.
func TestPromtoolTestsPinGroupOrder(t *testing.T) {
	var want []string
	for _, f := range parseRuleFiles(t) {
		for _, g := range f.groups.Groups {
			want = append(want, g.Name)
		}
	}
	for _, f := range ruleTestFiles(t) {
		var doc struct {
			RuleFiles      []string `yaml:"rule_files"`
			GroupEvalOrder []string `yaml:"group_eval_order"`
		}
		if err := yaml.Unmarshal(readFile(t, f), &doc); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		var loaded []string
		for _, rf := range doc.RuleFiles {
			m, err := filepath.Glob(filepath.Join(filepath.Dir(f), rf))
			if err != nil {
				t.Fatalf("%s: rule_files %q: %v", filepath.Base(f), rf, err)
			}
			loaded = append(loaded, m...)
		}
		slices.Sort(loaded)
		if want := ruleFiles(t); !slices.Equal(loaded, want) {
			t.Errorf("%s: rule_files load %v, want every rule file %v", filepath.Base(f), loaded, want)
		}
		if !slices.Equal(doc.GroupEvalOrder, want) {
			t.Errorf("%s: group_eval_order = %v, want %v", filepath.Base(f), doc.GroupEvalOrder, want)
		}
	}
}

// TestEveryAlertHasPromtoolTests makes sure rules/tests/ covers every
// alert both ways: at least one evaluation where it must fire and one where
// it must stay quiet. (Which cases they are — near the threshold, no data,
// several instances — is for the reader of each test file.)
func TestEveryAlertHasPromtoolTests(t *testing.T) {
	firing, quiet := map[string]int{}, map[string]int{}
	for _, f := range ruleTestFiles(t) {
		var doc struct {
			Tests []struct {
				AlertRuleTests []struct {
					Alertname string           `yaml:"alertname"`
					ExpAlerts []map[string]any `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(readFile(t, f), &doc); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, tc := range doc.Tests {
			for _, a := range tc.AlertRuleTests {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname]++
				} else {
					quiet[a.Alertname]++
				}
			}
		}
	}
	for _, r := range allRules(parseRuleFiles(t)) {
		if r.Alert == "" {
			continue
		}
		if firing[r.Alert] == 0 {
			t.Errorf("no promtool test expects %s to fire", r.Alert)
		}
		if quiet[r.Alert] == 0 && r.Alert != "Watchdog" {
			t.Errorf("no promtool test expects %s to stay quiet", r.Alert)
		}
	}
}
