package rules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/ordersvc/ordersvc/internal/dashboards"
)

// PromQL-level tests in promqltest's script format (rules/testdata/*.test).
//
// The scripts never contain the expressions they test. They name them with
// placeholders that TestPromQLScripts replaces by the real text before
// promqltest runs the script:
//
//	{{record "job:http_requests_errors:ratio_rate5m"}}  the expr of that recording rule of rules/*.yml
//	{{alert "SlowResponseTime"}}                        the expr of that alert (it must have exactly one rule)
//	{{dashboard "Request rate" "A"}}                    query A of the panel titled "Request rate" in
//	                                                    grafana/dashboards/*.json, Grafana variables substituted
//	{{variable "instance"}}                             the PromQL inside that template variable's query
//
// Placeholders are text/template actions. Every expression is inserted as
// the PromQL printer's one-line form of the parsed expression, because
// promqltest reads an eval command from a single line; the placeholder
// therefore keeps the script's line numbers, which promqltest reports.
//
// Dashboard queries are rendered the way Grafana renders them when it opens
// the dashboard: the variables at their saved values ($job = ordersvc,
// $instance = All = .+) and dashboards.DefaultEnv() for the builtins
// ($__rate_interval = 1m, $__interval = 15s or the panel minimum, $__range
// = 1h). Scripts that evaluate dashboard queries therefore load samples
// every 15s, the scrape interval that environment stands for.

// Environment variables through which TestPromQLScriptsCatchMistakes points
// a child run of TestPromQLScripts at mutated copies of the rules and
// dashboards. Unset, the repository's files are used.
const (
	rulesDirEnv      = "ORDERSVC_PROMQLTEST_RULES_DIR"
	dashboardsDirEnv = "ORDERSVC_PROMQLTEST_DASHBOARDS_DIR"
)

// promqlSources holds the real expressions the scripts' placeholders name.
type promqlSources struct {
	records    map[string]string   // recording rule name → expr
	alerts     map[string][]string // alert name → exprs (one per rule of that name)
	dashboards []dashboards.Dashboard
	env        dashboards.Env
}

// loadPromQLSources reads the rule files and dashboards (the repository's,
// or the directories named by rulesDirEnv and dashboardsDirEnv).
func loadPromQLSources(t testing.TB) promqlSources {
	t.Helper()
	files := ruleFiles(t)
	if dir := os.Getenv(rulesDirEnv); dir != "" {
		var err error
		if files, err = filepath.Glob(filepath.Join(dir, "*.yml")); err != nil || len(files) == 0 {
			t.Fatalf("%s=%s: no rule files (%v)", rulesDirEnv, dir, err)
		}
	}
	src := promqlSources{records: map[string]string{}, alerts: map[string][]string{}, env: dashboards.DefaultEnv()}
	for _, f := range files {
		rgs, errs := rulefmt.ParseFile(f, false, model.UTF8Validation)
		if len(errs) > 0 {
			t.Fatalf("parse %s: %v", f, errs)
		}
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				switch {
				case r.Record != "":
					if _, dup := src.records[r.Record]; dup {
						t.Fatalf("%s: recording rule %s defined twice", f, r.Record)
					}
					src.records[r.Record] = r.Expr
				case r.Alert != "":
					src.alerts[r.Alert] = append(src.alerts[r.Alert], r.Expr)
				}
			}
		}
	}
	dir := filepath.Join(repoRoot(t), "grafana", "dashboards")
	if d := os.Getenv(dashboardsDirEnv); d != "" {
		dir = d
	}
	ds, err := dashboards.Load(dir)
	if err != nil {
		t.Fatalf("load dashboards: %v", err)
	}
	src.dashboards = ds
	return src
}

// oneLine parses expr and prints it on one line.
func oneLine(expr string) (string, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", expr, err)
	}
	return e.String(), nil
}

// Coverage keys: what a placeholder refers to, as reported when a source
// has no case.
func recordKey(name string) string { return "recording rule " + name }

func variableKey(d dashboards.Dashboard, name string) string {
	return fmt.Sprintf("%s variable $%s", d.UID, name)
}

// render expands the placeholders of the script text (named name in
// errors) and adds the key of every source it used to used.
func (s promqlSources) render(name, text string, used map[string]bool) (string, error) {
	funcs := template.FuncMap{
		"record": func(record string) (string, error) {
			expr, ok := s.records[record]
			if !ok {
				return "", fmt.Errorf("no recording rule %s", record)
			}
			used[recordKey(record)] = true
			return oneLine(expr)
		},
		"alert": func(alert string) (string, error) {
			exprs := s.alerts[alert]
			if len(exprs) != 1 {
				return "", fmt.Errorf("alert %s has %d rules, want exactly one", alert, len(exprs))
			}
			used["alert "+alert] = true
			return oneLine(exprs[0])
		},
		"dashboard": func(title, refID string) (string, error) {
			d, q, err := dashboards.FindQuery(s.dashboards, title, refID)
			if err != nil {
				return "", err
			}
			expr, err := d.Render(q, s.env, nil)
			if err != nil {
				return "", err
			}
			used[q.String()] = true
			return oneLine(expr)
		},
		"variable": func(variable string) (string, error) {
			for _, d := range s.dashboards {
				q, ok := d.VariableQuery(variable)
				if !ok {
					continue
				}
				expr, err := d.Render(q, s.env, nil)
				if err != nil {
					return "", err
				}
				used[variableKey(d, variable)] = true
				return oneLine(expr)
			}
			return "", fmt.Errorf("no dashboard has a template variable $%s with a PromQL query", variable)
		},
	}
	// Line by line: a placeholder is one line's business, and comment lines
	// (which promqltest skips) are left alone, so that a placeholder quoted
	// in a comment neither runs nor counts as a case.
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || !strings.Contains(line, "{{") {
			continue
		}
		tmpl, err := template.New(fmt.Sprintf("%s:%d", name, i+1)).Funcs(funcs).Parse(line)
		if err != nil {
			return "", fmt.Errorf("parse placeholders: %w", err)
		}
		var out strings.Builder
		if err := tmpl.Execute(&out, nil); err != nil {
			return "", fmt.Errorf("expand placeholders: %w", err)
		}
		if strings.Contains(out.String(), "\n") {
			return "", fmt.Errorf("%s:%d: expanded to more than one line", name, i+1)
		}
		lines[i] = out.String()
	}
	return strings.Join(lines, "\n"), nil
}

// sourceKeys lists the key of every expression that needs a case: every
// recording rule, every dashboard panel query and every template variable
// whose query holds PromQL.
func (s promqlSources) sourceKeys() []string {
	var keys []string
	for r := range s.records {
		keys = append(keys, recordKey(r))
	}
	for _, d := range s.dashboards {
		for _, q := range d.Queries() {
			keys = append(keys, q.String())
		}
		for _, v := range d.Variables {
			if _, ok := d.VariableQuery(v.Name); ok {
				keys = append(keys, variableKey(d, v.Name))
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// promqlScripts returns rules/testdata/*.test, failing when there are none.
func promqlScripts(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "rules", "testdata", "*.test"))
	if err != nil {
		t.Fatalf("glob scripts: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no promqltest scripts in rules/testdata/*.test")
	}
	sort.Strings(files)
	return files
}

// newPromQLEngine returns an engine with a Prometheus server's defaults
// (5m lookback, no experimental features) and room for three days of
// one-minute samples of a few dozen series. The @ modifier is enabled
// because promqltest re-runs every instant query with @ pinned to its
// evaluation time.
func newPromQLEngine(t testing.TB) *promql.Engine {
	return promqltest.NewTestEngineWithOpts(t, promql.EngineOpts{
		MaxSamples:           5_000_000,
		Timeout:              time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
}

// TestPromQLScripts runs every rules/testdata/*.test script with promqltest
// after replacing its placeholders by the real rule expressions and
// dashboard queries. Each eval command is a subtest named by its line.
func TestPromQLScripts(t *testing.T) {
	src := loadPromQLSources(t)
	for _, f := range promqlScripts(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			script, err := src.render(name, string(readFile(t, f)), map[string]bool{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			promqltest.RunTest(t, script, newPromQLEngine(t))
		})
	}
}

// evalLine matches promqltest's eval commands.
var evalLine = regexp.MustCompile(`(?m)^\s*eval(_\w+)?\s+(instant|range)\s`)

// uncovered renders every script and returns the keys of the sources no
// script refers to, and how many eval commands the scripts hold.
func uncovered(t *testing.T, src promqlSources, scripts []string) (missing []string, evals int) {
	t.Helper()
	used := map[string]bool{}
	for _, f := range scripts {
		text := string(readFile(t, f))
		if _, err := src.render(filepath.Base(f), text, used); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		evals += len(evalLine.FindAllString(text, -1))
	}
	for _, k := range src.sourceKeys() {
		if !used[k] {
			missing = append(missing, k)
		}
	}
	return missing, evals
}

// TestPromQLScriptsCoverEverything requires a promqltest case for every
// recording rule, every dashboard query and every variable query, so that
// a new rule or panel without a case fails. The same check run over the
// sources plus an extra rule and an extra panel must report both, proving
// it can fail.
func TestPromQLScriptsCoverEverything(t *testing.T) {
	src := loadPromQLSources(t)
	scripts := promqlScripts(t)
	missing, evals := uncovered(t, src, scripts)
	for _, k := range missing {
		t.Errorf("%s has no promqltest case in rules/testdata/*.test", k)
	}
	if len(src.records) == 0 || len(src.dashboards) == 0 {
		t.Fatalf("%d recording rules, %d dashboards: nothing to cover", len(src.records), len(src.dashboards))
	}
	t.Logf("%d eval commands in %d scripts cover %d sources", evals, len(scripts), len(src.sourceKeys()))

	t.Run("an uncovered rule and panel are reported", func(t *testing.T) {
		extra, err := dashboards.Parse([]byte(`{"uid": "extra", "title": "Extra", "panels": [
		  {"id": 1, "type": "stat", "title": "New panel", "targets": [{"refId": "A", "expr": "sum(up)"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		grown := src
		grown.records = map[string]string{"job:new_rule:ratio": "sum(up)"}
		for k, v := range src.records {
			grown.records[k] = v
		}
		grown.dashboards = append(append([]dashboards.Dashboard(nil), src.dashboards...), extra)
		got, _ := uncovered(t, grown, scripts)
		want := []string{`extra panel 1 "New panel" query A`, "recording rule job:new_rule:ratio"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("uncovered = %q, want %q", got, want)
		}
	})
}

// jsonText returns s as it appears inside a JSON string of the dashboard
// files (quotes and newlines escaped, <, > and & kept).
func jsonText(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(b.String()), `"`), `"`)
}

// copyDir copies the files matching pattern in src to dst, applying mutate
// (if not nil) to the file named target, which must then change.
func copyDir(t *testing.T, src, pattern, dst, target string, mutate mutation) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(src, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s in %s (%v)", pattern, src, err)
	}
	found := mutate == nil
	for _, f := range files {
		content := string(readFile(t, f))
		if mutate != nil && filepath.Base(f) == target {
			mutated, err := mutate(content)
			if err != nil {
				t.Fatalf("mutate %s: %v", f, err)
			}
			if mutated == content {
				t.Fatalf("the mutation does not change %s", f)
			}
			content, found = mutated, true
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), []byte(content), 0o644); err != nil {
			t.Fatalf("write copy of %s: %v", f, err)
		}
	}
	if !found {
		t.Fatalf("%s not found in %s", target, src)
	}
}

// avgOfRatios is the classic mistake for a job-wide error ratio over
// window w: the average of per-instance ratios.
func avgOfRatios(w string) string {
	return `avg by (job) (
  sum by (job, instance) (rate(http_requests_total{job="ordersvc", status_code=~"5.."}[` + w + `]))
  /
  sum by (job, instance) (rate(http_requests_total{job="ordersvc"}[` + w + `]))
)`
}

// TestPromQLScriptsCatchMistakes proves the scripts can fail: each case
// plants one classic mistake in a temporary copy of the rules or the
// dashboards and runs TestPromQLScripts on the copies for one script, in a
// child process of this test binary. The child must fail, and its output
// must carry the expected promqltest error. A control case with unchanged
// copies must pass, so the failures come from the mutations and not from
// the copying.
//
// The child process is needed because promqltest.RunTest reports through a
// *testing.T: it runs every eval command as a subtest of it, and refuses
// any other testing.TB ("t.T is not testing.T"), so a recording wrapper
// would fail every case, mutated or not; the lower-level runner that
// returns an error is unexported.
func TestPromQLScriptsCatchMistakes(t *testing.T) {
	if os.Getenv(rulesDirEnv) != "" {
		t.Skip("inside a child run")
	}
	const rulesFile, dashboardFile = "ordersvc.rules.yml", "ordersvc.json"
	cases := []struct {
		name      string
		rules     mutation // applied to rules/ordersvc.rules.yml
		dashboard mutation // applied to grafana/dashboards/ordersvc.json
		script    string   // the script that must catch it
		want      string   // expected in the child's output; empty: the child must pass
	}{
		{
			name:   "control: unchanged copies pass",
			script: "slo_ratios.test",
		},
		{
			name:   "5m ratio as an average of per-instance ratios",
			rules:  replaceRecordExpr("job:http_requests_errors:ratio_rate5m", avgOfRatios("5m")),
			script: "slo_ratios.test",
			want:   `expected 0.0039800995 for {job="ordersvc"} but got 0.3005`,
		},
		{
			name:   "5m ratio as the average of per-series ratios",
			rules:  replaceRecordExpr("job:http_requests_errors:ratio_rate5m", `avg by (job) (rate(http_requests_total{job="ordersvc", status_code=~"5.."}[5m]) / rate(http_requests_total{job="ordersvc"}[5m]))`),
			script: "slo_ratios.test",
			want:   `expected 0.0039800995 for {job="ordersvc"} but got 1`,
		},
		{
			name:   "3d ratio as an average of per-instance ratios",
			rules:  replaceRecordExpr("job:http_requests_errors:ratio_rate3d", avgOfRatios("3d")),
			script: "slo_ratios.test",
			want:   `expected 0.0039800995 for {job="ordersvc"} but got 0.3005`,
		},
		{
			name:   "4xx counted as errors in the 30m ratio",
			rules:  replaceOnce(`status_code=~"5.."}[30m]`, `status_code=~"[45].."}[30m]`),
			script: "slo_ratios.test",
			want:   `expected 0.0039800995 for {job="ordersvc"} but got 0.0139303482`,
		},
		{
			name:   "zero-errors fallback of the 5m ratio dropped",
			rules:  replaceOnce("            or\n              0 * sum by (job) (rate(http_requests_total{job=\"ordersvc\"}[5m]))\n", ""),
			script: "slo_ratios.test",
			want:   `expected metric {job="ordersvc"} with 1: [0.000000] not found`,
		},
		{
			name:   "no-traffic guard of the 1h ratio dropped (records NaN)",
			rules:  replaceOnce(`(sum by (job) (rate(http_requests_total{job="ordersvc"}[1h])) > 0)`, `sum by (job) (rate(http_requests_total{job="ordersvc"}[1h]))`),
			script: "slo_no_traffic.test",
			want:   `unexpected metric {job="ordersvc"} in result, has value NaN`,
		},
		{
			name:   "2h ratio with delta, which a counter reset turns negative",
			rules:  replaceRecordExpr("job:http_requests_errors:ratio_rate2h", `sum by (job) (delta(http_requests_total{job="ordersvc", status_code=~"5.."}[2h])) / sum by (job) (delta(http_requests_total{job="ordersvc"}[2h]))`),
			script: "slo_counter_resets.test",
			want:   `expected 0.014 for {job="ordersvc"} but got -0.0034239130`,
		},
		{
			name:   "SlowResponseTime on the slowest instance's p95",
			rules:  replaceOnce(`sum by (job, le) (rate(http_request_duration_seconds_bucket{job="ordersvc"}[5m]))`, `sum by (job, instance, le) (rate(http_request_duration_seconds_bucket{job="ordersvc"}[5m]))`),
			script: "latency.test",
			want:   `unexpected metric {instance="app-2:8080", job="ordersvc"}`,
		},
		{
			name: "dashboard 5xx ratio as an average of per-instance ratios",
			dashboard: replaceOnce(
				jsonText(t, `sum by (job) (rate(http_requests_total{job=~"$job", instance=~"$instance", status_code=~"5.."}[$__rate_interval]))`+"\n/\n"+`sum by (job) (rate(http_requests_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))`),
				jsonText(t, `avg by (job) (sum by (job, instance) (rate(http_requests_total{job=~"$job", instance=~"$instance", status_code=~"5.."}[$__rate_interval])) / sum by (job, instance) (rate(http_requests_total{job=~"$job", instance=~"$instance"}[$__rate_interval])))`)),
			script: "dashboard_requests.test",
			want:   `expected 0.0384615385 for {job="ordersvc"} but got 0.0294117647`,
		},
		{
			name: "dashboard per-endpoint p99 without the NaN guard",
			dashboard: replaceOnce(
				jsonText(t, `sum by (method, endpoint, le) (rate(http_request_duration_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval]))) >= 0`),
				jsonText(t, `sum by (method, endpoint, le) (rate(http_request_duration_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))`)),
			script: "latency.test",
			want:   `has value NaN`,
		},
	}
	root := repoRoot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rulesDir, dashDir := t.TempDir(), t.TempDir()
			copyDir(t, filepath.Join(root, "rules"), "*.yml", rulesDir, rulesFile, tc.rules)
			copyDir(t, filepath.Join(root, "grafana", "dashboards"), "*.json", dashDir, dashboardFile, tc.dashboard)
			out, err := runPromQLScriptChild(t, tc.script, rulesDir, dashDir)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("the child run failed without a mutation: %v\n%s", err, out)
			case tc.want == "":
				if !strings.Contains(out, "--- PASS: TestPromQLScripts/"+tc.script) {
					t.Fatalf("the child run did not run %s:\n%s", tc.script, out)
				}
			case err == nil:
				t.Fatalf("%s passed with the mutation:\n%s", tc.script, out)
			case !strings.Contains(out, "--- FAIL: TestPromQLScripts/"+tc.script):
				t.Fatalf("the child failed, but not in %s: %v\n%s", tc.script, err, out)
			case !strings.Contains(out, tc.want):
				t.Fatalf("%s failed without the expected error %q:\n%s", tc.script, tc.want, out)
			default:
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, tc.want) {
						t.Logf("caught: %s", strings.TrimSpace(l))
						break
					}
				}
			}
		})
	}
}

// runPromQLScriptChild runs TestPromQLScripts for one script in a child
// process of the test binary, over the rules and dashboards in the given
// directories, and returns its output.
func runPromQLScriptChild(t *testing.T, script, rulesDir, dashDir string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run=^TestPromQLScripts$/^"+regexp.QuoteMeta(script)+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rulesDirEnv+"="+rulesDir, dashboardsDirEnv+"="+dashDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
