package testkit

import (
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// RuleFile is one rule file of rules/ as Prometheus parses it.
type RuleFile struct {
	// Path is the file's absolute path.
	Path string
	// Groups are its rule groups.
	Groups *rulefmt.RuleGroups
}

// Rules returns every rule of the file, in file order.
func (f RuleFile) Rules() []rulefmt.Rule {
	var out []rulefmt.Rule
	for _, g := range f.Groups.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

var (
	rulesOnce  sync.Once
	ruleFiles  []RuleFile
	rulesError error
)

// RuleFiles returns the rule files Prometheus loads (rules/*.yml; the
// promtool tests in rules/tests/ are not rule files), parsed once per test
// binary with the parser and validation Prometheus itself uses. It fails
// the test on a parse error, and when there is no rule file at all, so that
// no check passes vacuously. Callers must not modify what it returns.
func RuleFiles(t testing.TB) []RuleFile {
	t.Helper()
	root := RepoRoot(t)
	rulesOnce.Do(func() { ruleFiles, rulesError = parseRuleFiles(filepath.Join(root, "rules", "*.yml")) })
	if rulesError != nil {
		t.Fatal(rulesError)
	}
	return ruleFiles
}

// AllRules returns every rule of every rule file, in file order.
func AllRules(t testing.TB) []rulefmt.Rule {
	t.Helper()
	var out []rulefmt.Rule
	for _, f := range RuleFiles(t) {
		out = append(out, f.Rules()...)
	}
	return out
}

// ParseRuleFile parses one rule file as Prometheus does.
func ParseRuleFile(path string) (RuleFile, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation)
	if len(errs) > 0 {
		return RuleFile{}, fmt.Errorf("parse %s: %w", path, errs[0])
	}
	return RuleFile{Path: path, Groups: groups}, nil
}

func parseRuleFiles(pattern string) ([]RuleFile, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no rule files match %s", pattern)
	}
	sort.Strings(paths)
	out := make([]RuleFile, 0, len(paths))
	for _, p := range paths {
		f, err := ParseRuleFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
