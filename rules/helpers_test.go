// Package rules_test proves the Prometheus rules in this directory right in
// four independent ways:
//
//   - promtool: `promtool check rules`, `promtool test rules` over
//     rules/tests/*.yml and `promtool check config` over
//     prometheus/prometheus.yml, with the pinned promtool of tools/;
//   - PromQL tests: promqltest scripts (rules/testdata/*.test) evaluating
//     the real recording rules, the latency alert and every dashboard query
//     over hand-checkable series (promql_test.go);
//   - the Prometheus rule manager: the real rule files evaluated over days
//     of synthetic series, for alerts that read recording rules over long
//     windows (eval_test.go);
//   - structure: every alert of the specification exists with its severity,
//     annotations and runbook, and every expression aggregates correctly.
//
// The directory holds no Go code besides these tests: the rules are data.
package rules_test

import (
	"github.com/ordersvc/ordersvc/internal/testkit"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// runbookBase is the URL prefix of every runbook_url: the runbook of alert
// X is docs/runbooks/X.md in this repository.
const runbookBase = "https://github.com/ordersvc/ordersvc/blob/main/docs/runbooks/"

// repoRoot returns the repository root or fails the test.
func repoRoot(t testing.TB) string {
	t.Helper()
	return testkit.RepoRoot(t)
}

// ruleFiles returns the rule files Prometheus loads: rules/*.yml (the
// promtool tests in rules/tests/ are not rule files). It fails the test when
// there are none, so that no check passes vacuously.
func ruleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "rules", "*.yml"))
	if err != nil {
		t.Fatalf("glob rule files: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no rule files in rules/*.yml")
	}
	sort.Strings(files)
	return files
}

// ruleTestFiles returns the promtool unit test files rules/tests/*.yml.
func ruleTestFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "rules", "tests", "*.yml"))
	if err != nil {
		t.Fatalf("glob rule test files: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no promtool tests in rules/tests/*.yml")
	}
	sort.Strings(files)
	return files
}

// parsedFile is one rule file as rulefmt reads it.
type parsedFile struct {
	path   string
	groups *rulefmt.RuleGroups
}

// parseRuleFiles returns every rule file as Prometheus parses it (parsed
// once per test binary by testkit), failing the test on any error.
func parseRuleFiles(t testing.TB) []parsedFile {
	t.Helper()
	var out []parsedFile
	for _, f := range testkit.RuleFiles(t) {
		out = append(out, parsedFile{path: f.Path, groups: f.Groups})
	}
	return out
}

// readFile returns a file's content or fails the test.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}
