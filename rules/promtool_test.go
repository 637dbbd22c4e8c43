package rules_test

import (
	"errors"
	"fmt"
	"github.com/ordersvc/ordersvc/internal/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool runs the pinned promtool with args in dir and returns its
// combined output and exit error.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return testkit.RunTool(t, dir, "promtool", args...)
}

// TestPromtoolCheckRules runs `promtool check rules` (syntax, templates,
// duplicate rules) on every rule file.
func TestPromtoolCheckRules(t *testing.T) {
	files := ruleFiles(t)
	out, err := promtool(t, repoRoot(t), append([]string{"check", "rules"}, files...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules did not report SUCCESS:\n%s", out)
	}
	t.Logf("%s", out)
}

// TestPromtoolTestRules runs the promtool unit tests of rules/tests/, one
// file per subtest.
func TestPromtoolTestRules(t *testing.T) {
	for _, f := range ruleTestFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := promtool(t, filepath.Dir(f), "test", "rules", filepath.Base(f))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "SUCCESS") {
				t.Fatalf("promtool test rules did not report SUCCESS:\n%s", out)
			}
		})
	}
}

// mutation plants one mistake in the rule file's text.
type mutation func(rules string) (string, error)

// replaceOnce returns a mutation that replaces old, which must occur
// exactly once, with new.
func replaceOnce(old, new string) mutation {
	return func(rules string) (string, error) {
		if n := strings.Count(rules, old); n != 1 {
			return "", fmt.Errorf("text to replace occurs %d times, want once:\n%s", n, old)
		}
		return strings.Replace(rules, old, new, 1), nil
	}
}

// replaceRecordExpr returns a mutation that replaces the block-scalar expr
// of recording rule record with expr.
func replaceRecordExpr(record, expr string) mutation {
	return func(rules string) (string, error) {
		head := "- record: " + record + "\n"
		if n := strings.Count(rules, head); n != 1 {
			return "", fmt.Errorf("recording rule %s occurs %d times, want once", record, n)
		}
		i := strings.Index(rules, head) + len(head)
		lines := strings.SplitAfter(rules[i:], "\n")
		exprLine := lines[0]
		indent := len(exprLine) - len(strings.TrimLeft(exprLine, " "))
		if strings.TrimSpace(exprLine) != "expr: |" {
			return "", fmt.Errorf("recording rule %s: expected a block-scalar expr, got %q", record, exprLine)
		}
		n := 1
		for n < len(lines) {
			l := lines[n]
			if strings.TrimSpace(l) != "" && len(l)-len(strings.TrimLeft(l, " ")) <= indent {
				break
			}
			n++
		}
		var b strings.Builder
		b.WriteString(exprLine)
		for _, l := range strings.Split(strings.TrimRight(expr, "\n"), "\n") {
			b.WriteString(strings.Repeat(" ", indent+2) + l + "\n")
		}
		return rules[:i] + b.String() + strings.Join(lines[n:], ""), nil
	}
}

// TestPromtoolTestsCatchBrokenRules proves that the promtool tests can fail:
// each case copies the rule files and one test file into a temporary
// directory, plants one classic mistake in one rule file, and expects that
// test file to fail on it.
func TestPromtoolTestsCatchBrokenRules(t *testing.T) {
	const defaultRulesFile = "ordersvc.rules.yml"
	cases := []struct {
		name      string
		rulesFile string // the file mutate applies to; default defaultRulesFile
		mutate    mutation
		testFile  string
		run       string // if set, only the test groups matching this regexp run
	}{
		{
			name:     "HighErrorRate threshold 5% raised to 15%",
			mutate:   replaceOnce("job:http_requests_errors:ratio_rate5m > 0.05", "job:http_requests_errors:ratio_rate5m > 0.15"),
			testFile: "high_error_rate_test.yml",
		},
		{
			name: "HighErrorRate for 2m dropped",
			mutate: replaceOnce(
				"        for: 2m\n        labels:\n          severity: critical\n        annotations:\n          summary: \"{{ $labels.job }}: {{ $value | humanizePercentage }}",
				"        labels:\n          severity: critical\n        annotations:\n          summary: \"{{ $labels.job }}: {{ $value | humanizePercentage }}"),
			testFile: "high_error_rate_test.yml",
		},
		{
			name:     "HighErrorRate minimum-traffic guard dropped",
			mutate:   replaceOnce(`sum by (job) (increase(http_requests_total{job="ordersvc"}[5m])) >= 10`, `sum by (job) (increase(http_requests_total{job="ordersvc"}[5m])) >= 0`),
			testFile: "high_error_rate_test.yml",
		},
		{
			name:     "4xx counted as errors in the 5m ratio",
			mutate:   replaceOnce(`sum by (job) (rate(http_requests_total{job="ordersvc", status_code=~"5.."}[5m]))`, `sum by (job) (rate(http_requests_total{job="ordersvc", status_code=~"[45].."}[5m]))`),
			testFile: "high_error_rate_test.yml",
		},
		{
			name: "5m ratio as an average of per-instance ratios",
			mutate: replaceRecordExpr("job:http_requests_errors:ratio_rate5m", `avg by (job) (
  (
      sum by (job, instance) (rate(http_requests_total{job="ordersvc", status_code=~"5.."}[5m]))
    or
      0 * sum by (job, instance) (rate(http_requests_total{job="ordersvc"}[5m]))
  )
  /
  (sum by (job, instance) (rate(http_requests_total{job="ordersvc"}[5m])) > 0)
)`),
			testFile: "high_error_rate_test.yml",
		},
		{
			name:     "no-traffic guard of the 1h ratio dropped (records NaN)",
			mutate:   replaceOnce(`(sum by (job) (rate(http_requests_total{job="ordersvc"}[1h])) > 0)`, `sum by (job) (rate(http_requests_total{job="ordersvc"}[1h]))`),
			testFile: "recording_test.yml",
		},
		{
			name:     "zero-errors fallback of the 3d ratio dropped",
			mutate:   replaceOnce("            or\n              0 * sum by (job) (rate(http_requests_total{job=\"ordersvc\"}[3d]))\n", ""),
			testFile: "recording_test.yml",
		},
		{
			name:     "p95 per instance instead of across instances",
			mutate:   replaceOnce(`sum by (job, le) (rate(http_request_duration_seconds_bucket{job="ordersvc"}[5m]))`, `sum by (job, instance, le) (rate(http_request_duration_seconds_bucket{job="ordersvc"}[5m]))`),
			testFile: "slow_response_time_test.yml",
		},
		{
			name:     "SlowResponseTime for 5m shortened to 3m",
			mutate:   replaceOnce("        for: 5m\n        labels:\n          severity: warning", "        for: 3m\n        labels:\n          severity: warning"),
			testFile: "slow_response_time_test.yml",
		},
		{
			name:     "fast-burn factor 14.4 lowered to 10",
			mutate:   replaceOnce("job:http_requests_errors:ratio_rate1h / 0.001 > 14.4", "job:http_requests_errors:ratio_rate1h / 0.001 > 10"),
			testFile: "error_budget_burn_test.yml",
			run:      "20x burn after 6h",
		},
		{
			name:     "fast-burn short window dropped",
			mutate:   replaceOnce("            and on (job)\n              job:http_requests_errors:ratio_rate5m / 0.001 > 14.4\n", ""),
			testFile: "error_budget_burn_test.yml",
			run:      "short window resets the page",
		},
		{
			name:     "slow-burn factor 1 raised to 1.2",
			mutate:   replaceOnce("job:http_requests_errors:ratio_rate3d / 0.001 > 1\n", "job:http_requests_errors:ratio_rate3d / 0.001 > 1.2\n"),
			testFile: "error_budget_burn_test.yml",
			run:      "1.1x sustained",
		},
		{
			name:     "TargetDown for 1m dropped",
			mutate:   replaceOnce("expr: up{job=\"ordersvc\"} == 0\n        for: 1m\n", "expr: up{job=\"ordersvc\"} == 0\n"),
			testFile: "targets_test.yml",
		},
		{
			name:     "TargetMissing on every job instead of ordersvc",
			mutate:   replaceOnce(`absent(up{job="ordersvc"})`, `absent(up)`),
			testFile: "targets_test.yml",
		},
		{
			name:     "PanicsDetected per instance",
			mutate:   replaceOnce(`sum by (job, endpoint) (increase(panics_recovered_total{job="ordersvc"}[5m])) > 0`, `sum by (job, instance, endpoint) (increase(panics_recovered_total{job="ordersvc"}[5m])) > 0`),
			testFile: "panics_test.yml",
		},
		{
			name:     "PanicsDetected with delta (a restart looks like a negative panic count)",
			mutate:   replaceOnce(`increase(panics_recovered_total{job="ordersvc"}[5m])) > 0`, `delta(panics_recovered_total{job="ordersvc"}[5m])) != 0`),
			testFile: "panics_test.yml",
		},
		{
			name:     "InventoryLow takes the lowest replica",
			mutate:   replaceOnce(`(max by (job, product_id) (inventory_level{job="ordersvc"}) < 10) > 0`, `(min by (job, product_id) (inventory_level{job="ordersvc"}) < 10) > 0`),
			testFile: "inventory_test.yml",
		},
		{
			name:     "InventoryLow includes 10",
			mutate:   replaceOnce(`(inventory_level{job="ordersvc"}) < 10) > 0`, `(inventory_level{job="ordersvc"}) <= 10) > 0`),
			testFile: "inventory_test.yml",
		},
		{
			name:     "OutOfStock for 10m shortened to 5m",
			mutate:   replaceOnce("(inventory_level{job=\"ordersvc\"}) == 0\n        for: 10m", "(inventory_level{job=\"ordersvc\"}) == 0\n        for: 5m"),
			testFile: "inventory_test.yml",
		},
		{
			name:     "DatabaseDown takes the lowest replica (one replica pages)",
			mutate:   replaceOnce(`max by (job) (db_up{job="ordersvc"}) == 0`, `min by (job) (db_up{job="ordersvc"}) == 0`),
			testFile: "database_test.yml",
		},
		{
			name:     "DatabaseDown for 1m dropped",
			mutate:   replaceOnce("expr: max by (job) (db_up{job=\"ordersvc\"}) == 0\n        for: 1m\n", "expr: max by (job) (db_up{job=\"ordersvc\"}) == 0\n"),
			testFile: "database_test.yml",
		},
		{
			name:     "PostgresDown on every job's pg_up",
			mutate:   replaceOnce(`expr: pg_up{job="postgres"} == 0`, `expr: pg_up == 0`),
			testFile: "database_test.yml",
		},
		{
			name:     "ErrorTrackingDropping window 15m shortened to 5m",
			mutate:   replaceOnce(`increase(sentry_events_dropped_total{job="ordersvc"}[15m])`, `increase(sentry_events_dropped_total{job="ordersvc"}[5m])`),
			testFile: "error_tracking_test.yml",
		},
		{
			name:     "ErrorTrackingDropping with delta (a restart looks like a drop)",
			mutate:   replaceOnce(`increase(sentry_events_dropped_total{job="ordersvc"}[15m])) > 0`, `delta(sentry_events_dropped_total{job="ordersvc"}[15m])) != 0`),
			testFile: "error_tracking_test.yml",
		},
		{
			name:      "PrometheusBadConfig without last_over_time (a failed scrape restarts the 10m)",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce(`last_over_time(prometheus_config_last_reload_successful{job="prometheus"}[5m]) == 0`, `prometheus_config_last_reload_successful{job="prometheus"} == 0`),
			testFile:  "prometheus_selfmonitoring_test.yml",
		},
		{
			name:      "PrometheusRuleFailures for 15m shortened to 10m",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce("increase(prometheus_rule_evaluation_failures_total{job=\"prometheus\"}[5m]) > 0\n        for: 15m", "increase(prometheus_rule_evaluation_failures_total{job=\"prometheus\"}[5m]) > 0\n        for: 10m"),
			testFile:  "prometheus_selfmonitoring_test.yml",
		},
		{
			name:      "PrometheusNotConnectedToAlertmanagers fires with one Alertmanager left",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce(`prometheus_notifications_alertmanagers_discovered{job="prometheus"}[5m]) < 1`, `prometheus_notifications_alertmanagers_discovered{job="prometheus"}[5m]) < 2`),
			testFile:  "prometheus_selfmonitoring_test.yml",
		},
		{
			name:      "error share over sent alone (Prometheus 3 counts only successful sends)",
			rulesFile: "selfmonitoring.rules.yml",
			mutate: replaceOnce(`          (
              sum by (job, instance, alertmanager) (rate(prometheus_notifications_errors_total{job="prometheus"}[5m]))
            +
              sum by (job, instance, alertmanager) (rate(prometheus_notifications_sent_total{job="prometheus"}[5m]))
            > 0
          )`, `          (sum by (job, instance, alertmanager) (rate(prometheus_notifications_sent_total{job="prometheus"}[5m])) > 0)`),
			testFile: "prometheus_selfmonitoring_test.yml",
		},
		{
			name:      "AlertmanagerFailedReload on every job",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce(`alertmanager_config_last_reload_successful{job="alertmanager"}`, `alertmanager_config_last_reload_successful`),
			testFile:  "alertmanager_selfmonitoring_test.yml",
		},
		{
			name:      "AlertmanagerFailedToSendAlerts per failure reason",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce(`sum by (job, instance, integration) (rate(alertmanager_notifications_failed_total{job="alertmanager"}[5m]))`, `sum by (job, instance, integration, reason) (rate(alertmanager_notifications_failed_total{job="alertmanager"}[5m]))`),
			testFile:  "alertmanager_selfmonitoring_test.yml",
		},
		{
			name:      "AlertmanagerFailedToSendAlerts for 5m shortened to 3m",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce("          > 0.01\n        for: 5m", "          > 0.01\n        for: 3m"),
			testFile:  "alertmanager_selfmonitoring_test.yml",
		},
		{
			name:      "AlertmanagerMembersInconsistent without max_over_time on the member's view",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce("          max_over_time(alertmanager_cluster_members{job=\"alertmanager\"}[5m])\n          < on (job)", "          alertmanager_cluster_members{job=\"alertmanager\"}\n          < on (job)"),
			testFile:  "alertmanager_selfmonitoring_test.yml",
		},
		{
			name:      "AlertmanagerMembersInconsistent for 15m shortened to 10m",
			rulesFile: "selfmonitoring.rules.yml",
			mutate:    replaceOnce("(max_over_time(alertmanager_cluster_members{job=\"alertmanager\"}[5m]))\n        for: 15m", "(max_over_time(alertmanager_cluster_members{job=\"alertmanager\"}[5m]))\n        for: 10m"),
			testFile:  "alertmanager_selfmonitoring_test.yml",
		},
		{
			name:     "Watchdog severity changed",
			mutate:   replaceOnce("expr: vector(1)\n        labels:\n          severity: none", "expr: vector(1)\n        labels:\n          severity: info"),
			testFile: "watchdog_test.yml",
		},
	}
	root := repoRoot(t)
	originals := map[string]string{}
	for _, f := range ruleFiles(t) {
		originals[filepath.Base(f)] = string(readFile(t, f))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rulesFile := tc.rulesFile
			if rulesFile == "" {
				rulesFile = defaultRulesFile
			}
			original, ok := originals[rulesFile]
			if !ok {
				t.Fatalf("no rule file %s", rulesFile)
			}
			mutated, err := tc.mutate(original)
			if err != nil {
				t.Fatalf("mutate %s: %v", rulesFile, err)
			}
			// Every rule file is copied (the test files load them all); only
			// one carries the mistake.
			dir := t.TempDir()
			for name, content := range originals {
				if name == rulesFile {
					content = mutated
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatalf("write rules: %v", err)
				}
			}
			testsDir := filepath.Join(dir, "tests")
			if err := os.Mkdir(testsDir, 0o755); err != nil {
				t.Fatalf("create tests dir: %v", err)
			}
			src := readFile(t, filepath.Join(root, "rules", "tests", tc.testFile))
			if err := os.WriteFile(filepath.Join(testsDir, tc.testFile), src, 0o644); err != nil {
				t.Fatalf("copy %s: %v", tc.testFile, err)
			}
			// The mutant must still be a valid rule file, so that the failure
			// below comes from the unit tests and not from a syntax error.
			if out, err := promtool(t, dir, "check", "rules", rulesFile); err != nil {
				t.Fatalf("mutated rules do not load: %v\n%s", err, out)
			}
			args := []string{"test", "rules"}
			if tc.run != "" {
				args = append(args, "--run="+tc.run)
			}
			out, err := promtool(t, testsDir, append(args, tc.testFile)...)
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("%s passed with the mutation (err=%v):\n%s", tc.testFile, err, out)
			}
			if !strings.Contains(out, "FAILED") {
				t.Fatalf("promtool exited with %v but reported no FAILED test:\n%s", err, out)
			}
		})
	}
}
