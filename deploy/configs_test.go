package deploy_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// hostPath maps a path inside a service's container to the repository path
// bind-mounted there (the longest matching mount wins), or "" if no bind
// mount covers it.
func hostPath(s types.ServiceConfig, p string) string {
	var best *types.ServiceVolumeConfig
	for i, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if p == v.Target || strings.HasPrefix(p, strings.TrimSuffix(v.Target, "/")+"/") {
			if best == nil || len(v.Target) > len(best.Target) {
				best = &s.Volumes[i]
			}
		}
	}
	if best == nil {
		return ""
	}
	return filepath.Join(best.Source, strings.TrimPrefix(p, best.Target))
}

func TestHostPath(t *testing.T) {
	s := types.ServiceConfig{}
	s.Volumes = []types.ServiceVolumeConfig{
		{Type: types.VolumeTypeBind, Source: "/repo/prometheus/prometheus.yml", Target: "/etc/prometheus/prometheus.yml"},
		{Type: types.VolumeTypeBind, Source: "/repo/rules", Target: "/etc/prometheus/rules"},
		{Type: types.VolumeTypeBind, Source: "/repo/etc", Target: "/etc"},
		{Type: types.VolumeTypeVolume, Source: "data", Target: "/prometheus"},
	}
	tests := map[string]string{
		"/etc/prometheus/prometheus.yml":   "/repo/prometheus/prometheus.yml",
		"/etc/prometheus/rules/a.yml":      "/repo/rules/a.yml",
		"/etc/prometheus/rules":            "/repo/rules",
		"/etc/prometheus/rulesx/a.yml":     "/repo/etc/prometheus/rulesx/a.yml",
		"/prometheus/wal":                  "",
		"/run/secrets/alert_webhook_token": "",
	}
	for in, want := range tests {
		if got := hostPath(s, in); got != want {
			t.Errorf("hostPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// configFile returns the repository file a service reads as its
// --config.file, failing if the flag is missing or the file is not mounted
// from the repository or does not exist.
func configFile(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	inContainer := flagValue(s.Command, "config.file")
	if inContainer == "" {
		t.Fatalf("service %s: no --config.file in its command %v", s.Name, s.Command)
	}
	host := hostPath(s, inContainer)
	if host == "" {
		t.Fatalf("service %s: --config.file=%s is not bind-mounted from the repository", s.Name, inContainer)
	}
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("service %s: --config.file=%s: %v", s.Name, inContainer, err)
	}
	return host
}

// promConfig is the part of prometheus.yml the stack's wiring depends on.
// (Its full validity is promtool's job; see rules/.)
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles []string `yaml:"rule_files"`
	Alerting  struct {
		Alertmanagers []struct {
			Scheme        string         `yaml:"scheme"`
			PathPrefix    string         `yaml:"path_prefix"`
			StaticConfigs []staticConfig `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName        string         `yaml:"job_name"`
		ScrapeInterval string         `yaml:"scrape_interval"`
		MetricsPath    string         `yaml:"metrics_path"`
		Scheme         string         `yaml:"scheme"`
		StaticConfigs  []staticConfig `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

type staticConfig struct {
	Targets []string `yaml:"targets"`
}

// TestPrometheusWiring checks prometheus.yml against the stack: the
// service's job scrapes the app container, every static target is a compose
// service on a port it listens on, alerts go to the alertmanager service,
// the rule files resolve to rules mounted from rules/, and Grafana's
// $__rate_interval is computed from the real scrape interval.
func TestPrometheusWiring(t *testing.T) {
	p := loadProject(t, nil)
	prom := service(t, p, "prometheus")
	file := configFile(t, prom)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}

	scrapeInterval := cfg.Global.ScrapeInterval
	if scrapeInterval == "" {
		scrapeInterval = "1m" // Prometheus' default
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				if err := checkHostPort(p, target, "", "prometheus"); err != nil {
					t.Errorf("scrape job %s: %v", sc.JobName, err)
				}
			}
		}
		if sc.JobName != "ordersvc" {
			continue
		}
		found = true
		if sc.ScrapeInterval != "" {
			scrapeInterval = sc.ScrapeInterval
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" || sc.Scheme != "" && sc.Scheme != "http" {
			t.Errorf("job ordersvc scrapes %s://…%s, want http …/metrics", sc.Scheme, sc.MetricsPath)
		}
		// Every replica is scraped, each once, on its own port: the alerts
		// aggregate over the instances of the job, and a replica Prometheus
		// does not know about could fail unseen.
		var scraped []string
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, _, _ := net.SplitHostPort(target)
				if !slices.Contains(appReplicas(p), host) {
					t.Errorf("job ordersvc scrapes %s, which is not a replica of the service %v", target, appReplicas(p))
					continue
				}
				if err := checkHostPort(p, target, host, ""); err != nil {
					t.Errorf("job ordersvc: %v", err)
				}
				scraped = append(scraped, host)
			}
		}
		slices.Sort(scraped)
		if !slices.Equal(scraped, appReplicas(p)) {
			t.Errorf("job ordersvc scrapes %v, want each replica of the service once: %v", scraped, appReplicas(p))
		}
	}
	if !found {
		t.Error(`prometheus.yml has no scrape job "ordersvc" (SPEC §5)`)
	}
	// PostgresDown reads pg_up of the job postgres: that job must scrape the
	// exporter service.
	var pgTargets []string
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "postgres" {
			for _, st := range sc.StaticConfigs {
				pgTargets = append(pgTargets, st.Targets...)
			}
		}
	}
	if len(pgTargets) == 0 {
		t.Error(`prometheus.yml has no scrape job "postgres" for postgres_exporter`)
	}
	for _, target := range pgTargets {
		if err := checkHostPort(p, target, exporterService, ""); err != nil {
			t.Errorf("job postgres: %v", err)
		}
	}

	var amTargets int
	for _, am := range cfg.Alerting.Alertmanagers {
		if am.Scheme != "" && am.Scheme != "http" || strings.Trim(am.PathPrefix, "/") != "" {
			t.Errorf("alertmanager %s://…%s: want plain http at the root", am.Scheme, am.PathPrefix)
		}
		for _, st := range am.StaticConfigs {
			for _, target := range st.Targets {
				amTargets++
				if err := checkHostPort(p, target, "alertmanager", ""); err != nil {
					t.Errorf("alerting: %v", err)
				}
			}
		}
	}
	if amTargets == 0 {
		t.Error("prometheus.yml sends alerts nowhere: no alerting.alertmanagers targets")
	}

	if len(cfg.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rule_files")
	}
	for _, pattern := range cfg.RuleFiles {
		inContainer := pattern
		if !filepath.IsAbs(inContainer) {
			inContainer = filepath.Join(filepath.Dir(flagValue(prom.Command, "config.file")), pattern)
		}
		host := hostPath(prom, inContainer)
		if host == "" {
			t.Errorf("rule_files %q (%s in the container) is not mounted from the repository", pattern, inContainer)
			continue
		}
		matches, err := filepath.Glob(host)
		if err != nil || len(matches) == 0 {
			t.Errorf("rule_files %q matches no file (%s on the host)", pattern, host)
		}
	}

	sources, err := dashboards.LoadDatasources(hostPath(service(t, p, "grafana"), "/etc/grafana/provisioning/datasources"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range sources {
		if ds.Type != "prometheus" {
			continue
		}
		ti, _ := ds.JSONData["timeInterval"].(string)
		if !sameDuration(ti, scrapeInterval) {
			t.Errorf("Grafana datasource %s: timeInterval %q, but Prometheus scrapes ordersvc every %q: $__rate_interval would be wrong",
				ds.UID, ti, scrapeInterval)
		}
	}
}

func sameDuration(a, b string) bool {
	da, errA := model.ParseDuration(a)
	db, errB := model.ParseDuration(b)
	return errA == nil && errB == nil && time.Duration(da) == time.Duration(db)
}

// TestAlertmanagerWiring checks alertmanager.yml against the stack: every
// webhook posts to the app's receiver route on a port it listens on, with
// send_resolved, authenticated by the same compose secret the app reads its
// ALERT_WEBHOOK_TOKEN from; templates resolve to mounted files.
func TestAlertmanagerWiring(t *testing.T) {
	p := loadProject(t, nil)
	am := service(t, p, "alertmanager")
	app := service(t, p, "app")
	file := configFile(t, am)
	cfg, err := amconfig.LoadFile(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}

	appSecrets := secretPaths(app)
	appTokenFile := deref(app.Environment["ALERT_WEBHOOK_TOKEN_FILE"])
	appSecret, ok := appSecrets[appTokenFile]
	if !ok {
		t.Fatalf("app: ALERT_WEBHOOK_TOKEN_FILE=%s is not one of its secrets %v", appTokenFile, keys(appSecrets))
	}
	amSecrets := secretPaths(am)

	webhooks := 0
	replicas := []string{"app", "app-2"} // every receiver posts to each, once
	for _, r := range cfg.Receivers {
		if len(r.WebhookConfigs) != len(replicas) {
			t.Errorf("receiver %s has %d webhooks, want one per app replica %v", r.Name, len(r.WebhookConfigs), replicas)
		}
		for i, w := range r.WebhookConfigs {
			webhooks++
			if i < len(replicas) {
				if err := checkServiceURL(p, string(w.URL), replicas[i], "http", "/webhooks/alertmanager", ""); err != nil {
					t.Errorf("receiver %s: webhook: %v", r.Name, err)
				}
			}
			if !w.SendResolved() {
				t.Errorf("receiver %s: send_resolved is off; the service could never close its alert records", r.Name)
			}
			var credFile string
			if w.HTTPConfig != nil && w.HTTPConfig.Authorization != nil {
				credFile = w.HTTPConfig.Authorization.CredentialsFile
			}
			secret, ok := amSecrets[credFile]
			switch {
			case credFile == "":
				t.Errorf("receiver %s: no authorization credentials_file; the service answers 401", r.Name)
			case !ok:
				t.Errorf("receiver %s: credentials_file %s is not a secret of the alertmanager service (%v)", r.Name, credFile, keys(amSecrets))
			case secret != appSecret:
				t.Errorf("receiver %s: sends compose secret %q, but the app checks %q", r.Name, secret, appSecret)
			}
		}
	}
	if webhooks == 0 {
		t.Error("alertmanager.yml has no webhook receivers")
	}
	for _, tmpl := range cfg.Templates {
		// LoadFile made relative templates relative to the file on the host.
		matches, err := filepath.Glob(tmpl)
		if err != nil || len(matches) == 0 {
			t.Errorf("templates %q matches no file", tmpl)
		}
	}
}

// TestGrafanaWiring checks the Grafana provisioning against the stack:
// datasources point at compose services on their ports, the dashboard
// provider reads where compose mounts grafana/dashboards, and the home
// dashboard exists.
func TestGrafanaWiring(t *testing.T) {
	p := loadProject(t, nil)
	g := service(t, p, "grafana")
	sources, err := dashboards.LoadDatasources(hostPath(g, "/etc/grafana/provisioning/datasources"))
	if err != nil {
		t.Fatal(err)
	}
	wantHost := map[string]string{"prometheus": "prometheus", "alertmanager": "alertmanager", "jaeger": jaegerService}
	for _, ds := range sources {
		if err := checkServiceURL(p, ds.URL, wantHost[ds.Type], "http", "", ""); err != nil {
			t.Errorf("datasource %s: %v", ds.UID, err)
		}
	}
	providers, err := dashboards.LoadProviders(hostPath(g, "/etc/grafana/provisioning/dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	root := testkit.RepoRoot(t)
	for _, pr := range providers {
		host := hostPath(g, pr.Options.Path)
		if host == "" {
			t.Errorf("dashboard provider %s reads %s, which nothing mounts", pr.Name, pr.Options.Path)
			continue
		}
		if _, err := dashboards.Load(host); err != nil {
			t.Errorf("dashboard provider %s: %v", pr.Name, err)
		}
		if rel, _ := filepath.Rel(root, host); rel != filepath.Join("grafana", "dashboards") {
			t.Errorf("dashboard provider %s reads ./%s, want ./grafana/dashboards", pr.Name, rel)
		}
	}
	home := deref(g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
	if home != "<unset>" {
		if _, err := dashboards.LoadFile(hostPath(g, home)); err != nil {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=%s: %v", home, err)
		}
	}
	if !slices.ContainsFunc(g.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/grafana"
	}) {
		t.Error("grafana: /var/lib/grafana is not on a named volume")
	}
}
