// Package prometheus_test checks prometheus/prometheus.yml, the Prometheus
// configuration of the compose stack: the jobs, targets, rule files and
// alerting the stack relies on, and `promtool check config` with the pinned
// promtool of tools/ (which checks the rule files it loads as well).
package prometheus_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// configFile is the file under test, relative to the repository root.
const configFile = "prometheus/prometheus.yml"

// containerRulesDir is where docker-compose mounts the repository's rules/
// directory inside the Prometheus container (see docker-compose.yaml).
const containerRulesDir = "/etc/prometheus/rules/"

// promConfig is the part of prometheus.yml the contract fixes.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles []string `yaml:"rule_files"`
	Alerting  struct {
		Alertmanagers []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestPrometheusConfigWiring pins what the compose stack relies on: the
// job names and targets, rule files under the container mount, and
// Alertmanager as the alerting target.
func TestPrometheusConfigWiring(t *testing.T) {
	var cfg promConfig
	if err := yaml.Unmarshal(testkit.ReadRepoFile(t, configFile), &cfg); err != nil {
		t.Fatalf("parse %s: %v", configFile, err)
	}
	if cfg.Global.ScrapeInterval == "" || cfg.Global.EvaluationInterval == "" {
		t.Errorf("global scrape_interval and evaluation_interval must be set, got %+v", cfg.Global)
	}
	if len(cfg.RuleFiles) == 0 {
		t.Error("no rule_files")
	}
	for _, rf := range cfg.RuleFiles {
		if !strings.HasPrefix(rf, containerRulesDir) {
			t.Errorf("rule_files entry %q is not under the container mount %s", rf, containerRulesDir)
		}
	}
	var amTargets []string
	for _, am := range cfg.Alerting.Alertmanagers {
		for _, sc := range am.StaticConfigs {
			amTargets = append(amTargets, sc.Targets...)
		}
	}
	if !slices.Equal(amTargets, []string{"alertmanager:9093"}) {
		t.Errorf("alerting targets = %v, want [alertmanager:9093]", amTargets)
	}
	want := map[string][]string{
		"ordersvc":     {"app:8080", "app-2:8080"}, // both compose replicas
		"prometheus":   {"localhost:9090"},
		"alertmanager": {"alertmanager:9093"},
		// postgres_exporter, the compose service of that name.
		"postgres": {"postgres-exporter:9187"},
	}
	got := map[string][]string{}
	for _, sc := range cfg.ScrapeConfigs {
		if _, dup := got[sc.JobName]; dup {
			t.Errorf("job %q is defined twice", sc.JobName)
		}
		var targets []string
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		got[sc.JobName] = targets
	}
	for job, targets := range want {
		if !slices.Equal(got[job], targets) {
			t.Errorf("job %q targets = %v, want %v", job, got[job], targets)
		}
	}
	for job := range got {
		if _, ok := want[job]; !ok {
			t.Errorf("unexpected scrape job %q", job)
		}
	}
}

// localConfig returns prometheus.yml with every rule_files entry moved from
// the container mount (/etc/prometheus/rules/) to this checkout's rules/
// directory. The rewrite goes through the YAML parser and touches nothing
// but the rule_files scalars.
func localConfig(t *testing.T, content []byte, rulesDir string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		t.Fatalf("parse prometheus.yml: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("prometheus.yml is not a YAML mapping")
	}
	top := doc.Content[0]
	rewritten := 0
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "rule_files" {
			continue
		}
		for _, item := range top.Content[i+1].Content {
			rest, ok := strings.CutPrefix(item.Value, containerRulesDir)
			if !ok {
				t.Fatalf("rule_files entry %q is not under %s", item.Value, containerRulesDir)
			}
			item.Value = filepath.Join(rulesDir, rest)
			rewritten++
		}
	}
	if rewritten == 0 {
		t.Fatal("prometheus.yml has no rule_files to check")
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatalf("marshal rewritten prometheus.yml: %v", err)
	}
	return out
}

// TestPromtoolCheckConfig runs `promtool check config` on
// prometheus/prometheus.yml. Its rule_files point into the container, so the
// check runs on a temporary copy whose rule_files point at this checkout's
// rules/ (the same directory docker-compose mounts); promtool then checks
// the rule files too, and the test makes sure the glob finds exactly the
// rule files testkit.RuleFiles loads.
func TestPromtoolCheckConfig(t *testing.T) {
	local := localConfig(t, testkit.ReadRepoFile(t, configFile), testkit.RepoFile(t, "rules"))

	var cfg promConfig
	if err := yaml.Unmarshal(local, &cfg); err != nil {
		t.Fatalf("parse rewritten config: %v", err)
	}
	var matched []string
	for _, pattern := range cfg.RuleFiles {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatalf("glob %q: %v", pattern, err)
		}
		matched = append(matched, m...)
	}
	slices.Sort(matched)
	var want []string
	for _, f := range testkit.RuleFiles(t) {
		want = append(want, f.Path)
	}
	if !slices.Equal(matched, want) {
		t.Fatalf("rule_files match %v, want exactly the rule files %v", matched, want)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, local, 0o644); err != nil {
		t.Fatalf("write config copy: %v", err)
	}
	out, err := testkit.RunTool(t, dir, "promtool", "check", "config", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, f := range matched {
		if !strings.Contains(out, "Checking "+f) {
			t.Errorf("promtool did not check rule file %s:\n%s", f, out)
		}
	}
	t.Logf("%s", out)
}
