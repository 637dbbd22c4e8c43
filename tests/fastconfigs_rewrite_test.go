package tests

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// TestFastRules checks the rule rewrite: same groups, rules, labels and
// annotations; every `for` and every range window scaled by speedup with
// the floor.
func TestFastRules(t *testing.T) {
	path := testkit.RepoFile(t, "rules/ordersvc.rules.yml")
	f, err := testkit.ParseRuleFile(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := f.Groups
	out, err := fastRules(path)
	if err != nil {
		t.Fatal(err)
	}
	fast, errs := rulefmt.Parse(out, false, model.UTF8Validation)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(fast.Groups) != len(orig.Groups) {
		t.Fatalf("%d groups, want %d", len(fast.Groups), len(orig.Groups))
	}
	windows := 0
	for gi, og := range orig.Groups {
		fg := fast.Groups[gi]
		if fg.Name != og.Name || len(fg.Rules) != len(og.Rules) {
			t.Fatalf("group %d: %s with %d rules, want %s with %d", gi, fg.Name, len(fg.Rules), og.Name, len(og.Rules))
		}
		for ri, or := range og.Rules {
			fr := fg.Rules[ri]
			name := or.Alert + or.Record
			if fr.Alert != or.Alert || fr.Record != or.Record || !maps.Equal(fr.Labels, or.Labels) || !maps.Equal(fr.Annotations, or.Annotations) {
				t.Errorf("%s: name, labels or annotations changed: %+v", name, fr)
			}
			if want := shrink(time.Duration(or.For), minWindow); time.Duration(fr.For) != want {
				t.Errorf("%s: for %s, want %s (from %s)", name, fr.For, want, or.For)
			}
			ow, fw := ranges(t, or.Expr), ranges(t, fr.Expr)
			if len(ow) != len(fw) {
				t.Fatalf("%s: %d range windows, want %d", name, len(fw), len(ow))
			}
			for i := range ow {
				if want := shrink(ow[i], minWindow); fw[i] != want || fw[i] < minWindow {
					t.Errorf("%s: window %d is %s, want %s (from %s)", name, i, fw[i], want, ow[i])
				}
				windows++
			}
		}
	}
	if windows == 0 {
		t.Error("no range window found in the rules: the walk is broken")
	}
	// The values the end-to-end test's timing relies on.
	for _, r := range fast.Groups[len(fast.Groups)-1].Rules {
		if r.Alert == "HighErrorRate" && time.Duration(r.For) != 4*time.Second {
			t.Errorf("HighErrorRate: for %s, want 4s", r.For)
		}
	}
}

// ranges returns the range windows of an expression's matrix selectors and
// subqueries, in walk order.
func ranges(t *testing.T, expr string) []time.Duration {
	t.Helper()
	node, err := parser.ParseExpr(expr)
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	var out []time.Duration
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			out = append(out, n.Range)
		case *parser.SubqueryExpr:
			out = append(out, n.Range)
		}
		return nil
	})
	return out
}

// TestFastExprOffsetsAndSubqueries covers what the repository's rules do
// not use today: offsets and subqueries are scaled too.
func TestFastExprOffsetsAndSubqueries(t *testing.T) {
	got, err := fastExpr(`max_over_time(rate(x[5m])[30m:1m] offset 1h) > rate(y[1m] offset 10m)`)
	if err != nil {
		t.Fatal(err)
	}
	want := `max_over_time(rate(x[10s])[1m:2s] offset 2m) > rate(y[4s] offset 20s)`
	if got != want {
		t.Errorf("fastExpr = %s\nwant        %s", got, want)
	}
	if _, err := fastExpr(`rate(x[5m`); err == nil {
		t.Error("a broken expression was accepted")
	}
}

// TestFastPrometheusConfig checks the prometheus.yml rewrite.
func TestFastPrometheusConfig(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yml")
	tg := promTargets{service: "127.0.0.1:1001", prometheus: "127.0.0.1:1002", alertmanagers: []string{"127.0.0.1:1003", "127.0.0.1:1004"}}
	out, err := fastPrometheusConfig(testkit.RepoFile(t, "prometheus/prometheus.yml"), rules, tg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := promconfig.Load(string(out), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.GlobalConfig.ScrapeInterval) != scrapeInterval || time.Duration(cfg.GlobalConfig.EvaluationInterval) != scrapeInterval {
		t.Errorf("global intervals %s/%s, want %s", cfg.GlobalConfig.ScrapeInterval, cfg.GlobalConfig.EvaluationInterval, scrapeInterval)
	}
	if !slices.Equal(cfg.RuleFiles, []string{rules}) {
		t.Errorf("rule_files %v, want [%s]", cfg.RuleFiles, rules)
	}
	want := map[string][]string{"ordersvc": {tg.service}, "prometheus": {tg.prometheus}, "alertmanager": tg.alertmanagers}
	for _, sc := range cfg.ScrapeConfigs {
		if got := staticAddrs(sc.ServiceDiscoveryConfigs); !slices.Equal(got, want[sc.JobName]) {
			t.Errorf("job %s targets %v, want %v", sc.JobName, got, want[sc.JobName])
		}
		if _, slow := jobScrapeInterval[sc.JobName]; !slow && time.Duration(sc.ScrapeInterval) != scrapeInterval {
			t.Errorf("job %s scrape_interval %s", sc.JobName, sc.ScrapeInterval)
		}
		delete(want, sc.JobName)
	}
	if len(want) > 0 {
		t.Errorf("jobs missing: %v", slices.Sorted(maps.Keys(want)))
	}
	if am := cfg.AlertingConfig.AlertmanagerConfigs; len(am) != 1 || !slices.Equal(staticAddrs(am[0].ServiceDiscoveryConfigs), tg.alertmanagers) {
		t.Errorf("alerting does not go to both Alertmanagers: %s", out)
	}
}

// staticAddrs lists the addresses of static_configs.
func staticAddrs(cs discovery.Configs) []string {
	var out []string
	for _, c := range cs {
		sc, ok := c.(discovery.StaticConfig)
		if !ok {
			continue
		}
		for _, g := range sc {
			for _, tgt := range g.Targets {
				out = append(out, string(tgt[model.AddressLabel]))
			}
		}
	}
	return out
}

// TestFastAlertmanagerConfig checks the alertmanager.yml rewrite: every
// webhook goes to the given URL with the token file; routes keep their
// receivers and matchers and get scaled timings.
func TestFastAlertmanagerConfig(t *testing.T) {
	path := testkit.RepoFile(t, "alertmanager/alertmanager.yml")
	orig, err := amconfig.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const hook = "http://127.0.0.1:1/webhooks/alertmanager"
	out, err := fastAlertmanagerConfig(path, hook, "/tmp/token")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := amconfig.Load(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Receivers) != len(orig.Receivers) {
		t.Fatalf("%d receivers, want %d", len(cfg.Receivers), len(orig.Receivers))
	}
	for _, r := range cfg.Receivers {
		for _, wh := range r.WebhookConfigs {
			if string(wh.URL) != hook || wh.HTTPConfig.Authorization.CredentialsFile != "/tmp/token" || !wh.SendResolved() {
				t.Errorf("receiver %s: url %q, credentials_file %q, send_resolved %v", r.Name, wh.URL, wh.HTTPConfig.Authorization.CredentialsFile, wh.SendResolved())
			}
		}
	}
	var compare func(o, f *amconfig.Route)
	compare = func(o, f *amconfig.Route) {
		if o.Receiver != f.Receiver || fmt.Sprint(o.Matchers) != fmt.Sprint(f.Matchers) || len(o.Routes) != len(f.Routes) {
			t.Errorf("route %s %s became %s %s", o.Receiver, o.Matchers, f.Receiver, f.Matchers)
			return
		}
		for _, pair := range [][2]*model.Duration{{o.GroupWait, f.GroupWait}, {o.GroupInterval, f.GroupInterval}, {o.RepeatInterval, f.RepeatInterval}} {
			if (pair[0] == nil) != (pair[1] == nil) {
				t.Errorf("route %s: a timing was added or dropped", o.Receiver)
			} else if pair[0] != nil && time.Duration(*pair[1]) != shrink(time.Duration(*pair[0]), minRouteTiming) {
				t.Errorf("route %s: timing %s became %s", o.Receiver, *pair[0], *pair[1])
			}
		}
		for i := range o.Routes {
			compare(o.Routes[i], f.Routes[i])
		}
	}
	compare(orig.Route, cfg.Route)
	if len(cfg.InhibitRules) != len(orig.InhibitRules) {
		t.Errorf("%d inhibit rules, want %d", len(cfg.InhibitRules), len(orig.InhibitRules))
	}
}

// TestFastPrometheusConfigScaleOut checks the scale-out stack's rewrite:
// the ordersvc job scrapes every replica and the postgres job the test's
// exporter; without an exporter (above) the postgres job is dropped.
func TestFastPrometheusConfigScaleOut(t *testing.T) {
	tg := promTargets{
		service: "127.0.0.1:1001", replicas: []string{"127.0.0.1:1011", "127.0.0.1:1012"},
		prometheus: "127.0.0.1:1002", alertmanagers: []string{"127.0.0.1:1003"}, postgresExporter: "127.0.0.1:1005",
	}
	out, err := fastPrometheusConfig(testkit.RepoFile(t, "prometheus/prometheus.yml"), "/tmp/rules.yml", tg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := promconfig.Load(string(out), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"ordersvc": tg.replicas, "prometheus": {tg.prometheus}, "alertmanager": tg.alertmanagers, "postgres": {tg.postgresExporter}}
	for _, sc := range cfg.ScrapeConfigs {
		if got := staticAddrs(sc.ServiceDiscoveryConfigs); !slices.Equal(got, want[sc.JobName]) {
			t.Errorf("job %s targets %v, want %v", sc.JobName, got, want[sc.JobName])
		}
		if sc.JobName == "postgres" && (time.Duration(sc.ScrapeInterval) != jobScrapeInterval["postgres"] || sc.ScrapeTimeout != sc.ScrapeInterval) {
			t.Errorf("job postgres scrape_interval %s, scrape_timeout %s, want %s", sc.ScrapeInterval, sc.ScrapeTimeout, jobScrapeInterval["postgres"])
		}
		delete(want, sc.JobName)
	}
	if len(want) > 0 {
		t.Errorf("jobs missing: %v", slices.Sorted(maps.Keys(want)))
	}

	tg.postgresExporter = ""
	out, err = fastPrometheusConfig(testkit.RepoFile(t, "prometheus/prometheus.yml"), "/tmp/rules.yml", tg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = promconfig.Load(string(out), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "postgres" {
			t.Errorf("a stack without postgres_exporter still scrapes the postgres job: %v", staticAddrs(sc.ServiceDiscoveryConfigs))
		}
	}
}

// TestFastAlertmanagerConfigHooks checks that every receiver gets one
// webhook per URL, each with its own URL and the token file.
func TestFastAlertmanagerConfigHooks(t *testing.T) {
	path := testkit.RepoFile(t, "alertmanager/alertmanager.yml")
	orig, err := amconfig.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hooks := []string{"http://127.0.0.1:1/webhooks/alertmanager", "http://127.0.0.1:2/webhooks/alertmanager"}
	out, err := fastAlertmanagerConfigHooks(path, hooks, "/tmp/token")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := amconfig.Load(string(out))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range cfg.Receivers {
		var urls []string
		for _, wh := range r.WebhookConfigs {
			urls = append(urls, string(wh.URL))
			if wh.HTTPConfig.Authorization.CredentialsFile != "/tmp/token" || !wh.SendResolved() {
				t.Errorf("receiver %s: credentials_file %q, send_resolved %v", r.Name, wh.HTTPConfig.Authorization.CredentialsFile, wh.SendResolved())
			}
		}
		// One webhook per replica of this stack, whatever the repository's
		// file lists (one per replica of the compose stack).
		if len(orig.Receivers[i].WebhookConfigs) == 0 || !slices.Equal(urls, hooks) {
			t.Errorf("receiver %s posts to %v, want %v", r.Name, urls, hooks)
		}
	}
}
