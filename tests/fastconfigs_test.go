package tests

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// The end-to-end stack runs the repository's real rule, Prometheus and
// Alertmanager files, made fast: every file is read by its own project's
// parser, its time parameters are scaled down, and it is written back. No
// hand-edited copy exists that could drift from the real file.

// speedup scales the time parameters of rules and Alertmanager routes down:
// a `for: 2m` becomes 4s, a [5m] window 10s.
const speedup = 30

// minWindow is the smallest range, offset or `for` a rewritten rule gets:
// rate() over a 1s scrape interval needs a few samples in its window.
const minWindow = 4 * time.Second

// minRouteTiming is the smallest non-zero Alertmanager group_wait,
// group_interval or repeat_interval after scaling.
const minRouteTiming = time.Second

// scrapeInterval is the stack's scrape and rule evaluation interval.
const scrapeInterval = time.Second

// jobScrapeInterval is the scrape interval (and timeout) of the jobs that
// cannot answer within scrapeInterval. postgres_exporter takes a second to
// give up on a server that refuses connections (pg_exporter_last_scrape_
// duration_seconds 1.002 with the server down): at a 1s timeout the scrape
// fails and the pg_up 0 that PostgresDown needs never arrives.
var jobScrapeInterval = map[string]time.Duration{"postgres": 3 * time.Second}

// shrink divides d by speedup, rounds to whole seconds and applies floor.
// Zero stays zero (it means "unset" or "immediately").
func shrink(d, floor time.Duration) time.Duration {
	if d == 0 {
		return 0
	}
	return max((d / speedup).Round(time.Second), floor)
}

// fastRules reads a Prometheus rule file with rulefmt and returns it as
// YAML with every `for`, `keep_firing_for`, group interval and query
// offset, and in every expression every range, subquery window and step,
// and offset, scaled down by speedup (floored at minWindow). Names, labels
// and annotations are kept as they are. The result is parsed again, so a
// rewrite that breaks a rule fails here.
func fastRules(path string) ([]byte, error) {
	f, err := testkit.ParseRuleFile(path)
	if err != nil {
		return nil, err
	}
	groups := f.Groups
	for gi := range groups.Groups {
		g := &groups.Groups[gi]
		g.Interval = model.Duration(shrink(time.Duration(g.Interval), minWindow))
		if g.QueryOffset != nil {
			off := model.Duration(shrink(time.Duration(*g.QueryOffset), 0))
			g.QueryOffset = &off
		}
		for ri := range g.Rules {
			r := &g.Rules[ri]
			r.For = model.Duration(shrink(time.Duration(r.For), minWindow))
			r.KeepFiringFor = model.Duration(shrink(time.Duration(r.KeepFiringFor), minWindow))
			expr, err := fastExpr(r.Expr)
			if err != nil {
				return nil, fmt.Errorf("group %s rule %s%s: %w", g.Name, r.Alert, r.Record, err)
			}
			r.Expr = expr
		}
	}
	out, err := yaml.Marshal(groups)
	if err != nil {
		return nil, err
	}
	if _, errs := rulefmt.Parse(out, false, model.UTF8Validation); len(errs) > 0 {
		return nil, fmt.Errorf("rewritten rules do not parse: %w", errors.Join(errs...))
	}
	return out, nil
}

// fastExpr scales every range, subquery window and step, and offset of a
// PromQL expression by speedup through the parser's AST, and prints it
// back. Duration expressions (the experimental `[5m * 2]` form) are
// refused: they cannot be scaled without evaluating them.
func fastExpr(expr string) (string, error) {
	node, err := parser.ParseExpr(expr)
	if err != nil {
		return "", err
	}
	var walkErr error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			if n.RangeExpr != nil {
				walkErr = fmt.Errorf("duration expression in %s is not supported", n)
			}
			n.Range = shrink(n.Range, minWindow)
		case *parser.SubqueryExpr:
			if n.RangeExpr != nil || n.StepExpr != nil || n.OriginalOffsetExpr != nil {
				walkErr = fmt.Errorf("duration expression in %s is not supported", n)
			}
			n.Range = shrink(n.Range, minWindow)
			n.Step = shrink(n.Step, scrapeInterval)
			n.OriginalOffset = shrink(n.OriginalOffset, minWindow)
		case *parser.VectorSelector:
			if n.OriginalOffsetExpr != nil {
				walkErr = fmt.Errorf("duration expression in %s is not supported", n)
			}
			n.OriginalOffset = shrink(n.OriginalOffset, minWindow)
		}
		return nil
	})
	if walkErr != nil {
		return "", walkErr
	}
	return node.String(), nil
}

// promTargets are the loopback addresses the Prometheus config points at.
type promTargets struct {
	service       string   // the ordersvc job's target
	prometheus    string   // Prometheus itself
	alertmanagers []string // every Alertmanager, for alerting and scraping
	// replicas, when set, are the ordersvc job's targets instead of
	// service: one per replica of the scale-out stack.
	replicas []string
	// postgresExporter is the postgres job's target (postgres_exporter);
	// empty drops the job, for a stack that runs no exporter.
	postgresExporter string
}

// fastPrometheusConfig loads the repository's prometheus.yml with
// Prometheus' config package and returns it, marshalled by that package,
// with global and per-job scrape and evaluation intervals of
// scrapeInterval (jobScrapeInterval for the slow jobs), rule_files replaced by rulesFile, every job's static
// targets replaced by the loopback address of the same component (the
// postgres job dropped when tg has no exporter), and alerting sent to every
// Alertmanager. A job or alerting section the test does not know is an
// error, so a change to the real file is noticed rather than silently
// dropped.
func fastPrometheusConfig(path, rulesFile string, tg promTargets) ([]byte, error) {
	cfg, err := promconfig.LoadFile(path, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	interval := model.Duration(scrapeInterval)
	cfg.GlobalConfig.ScrapeInterval = interval
	cfg.GlobalConfig.ScrapeTimeout = interval
	cfg.GlobalConfig.EvaluationInterval = interval
	cfg.RuleFiles = []string{rulesFile}
	services := []string{tg.service}
	if len(tg.replicas) > 0 {
		services = tg.replicas
	}
	jobs := map[string][]string{
		"ordersvc":     services,
		"prometheus":   {tg.prometheus},
		"alertmanager": tg.alertmanagers,
		// nil (no exporter in this stack): the job is dropped below.
		"postgres": nil,
	}
	if tg.postgresExporter != "" {
		jobs["postgres"] = []string{tg.postgresExporter}
	}
	kept := cfg.ScrapeConfigs[:0]
	for _, sc := range cfg.ScrapeConfigs {
		targets, ok := jobs[sc.JobName]
		if !ok {
			return nil, fmt.Errorf("scrape job %q: the end-to-end test does not know where to point it", sc.JobName)
		}
		delete(jobs, sc.JobName)
		if len(targets) == 0 {
			// A target that cannot exist would only be a down target.
			continue
		}
		sc.ScrapeInterval, sc.ScrapeTimeout = interval, interval
		if d, ok := jobScrapeInterval[sc.JobName]; ok {
			sc.ScrapeInterval, sc.ScrapeTimeout = model.Duration(d), model.Duration(d)
		}
		sc.ServiceDiscoveryConfigs = staticTargets(targets)
		kept = append(kept, sc)
	}
	cfg.ScrapeConfigs = kept
	if len(jobs) > 0 {
		return nil, fmt.Errorf("prometheus.yml lacks the scrape jobs %v", slices.Sorted(maps.Keys(jobs)))
	}
	if n := len(cfg.AlertingConfig.AlertmanagerConfigs); n != 1 {
		return nil, fmt.Errorf("prometheus.yml has %d alertmanagers sections, the test expects 1", n)
	}
	cfg.AlertingConfig.AlertmanagerConfigs[0].ServiceDiscoveryConfigs = staticTargets(tg.alertmanagers)
	out := cfg.String()
	if strings.HasPrefix(out, "<error") {
		return nil, errors.New(out)
	}
	if _, err := promconfig.Load(out, slog.New(slog.DiscardHandler)); err != nil {
		return nil, fmt.Errorf("rewritten prometheus.yml does not load: %w", err)
	}
	return []byte(out), nil
}

// staticTargets is a static_configs entry with the given addresses.
func staticTargets(addrs []string) discovery.Configs {
	g := &targetgroup.Group{Source: "0"}
	for _, a := range addrs {
		g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(a)})
	}
	return discovery.Configs{discovery.StaticConfig{g}}
}

// fastAlertmanagerConfig is fastAlertmanagerConfigHooks with one webhook
// URL, the single-service stack's.
func fastAlertmanagerConfig(path, webhookURL, tokenFile string) ([]byte, error) {
	return fastAlertmanagerConfigHooks(path, []string{webhookURL}, tokenFile)
}

// fastAlertmanagerConfigHooks loads the repository's alertmanager.yml with
// Alertmanager's config package and returns it, marshalled by that package,
// with every webhook replaced by one per URL of webhookURLs (the same
// settings, each pointed at its URL, with the bearer token read from
// tokenFile: the scale-out stack's receivers post to every replica), and
// every route's group_wait, group_interval and
// repeat_interval (and the global resolve_timeout) scaled down by speedup.
// Receivers other than webhooks are an error: nothing local could receive
// them.
//
// amconfig.MarshalSecretValue must be true (TestMain sets it), or the
// webhook URLs are written as "<secret>".
func fastAlertmanagerConfigHooks(path string, webhookURLs []string, tokenFile string) ([]byte, error) {
	if len(webhookURLs) == 0 {
		return nil, errors.New("no webhook URL")
	}
	if !amconfig.MarshalSecretValue {
		return nil, errors.New("amconfig.MarshalSecretValue is false: webhook URLs would be written as <secret>")
	}
	cfg, err := amconfig.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if cfg.Global != nil {
		cfg.Global.ResolveTimeout = model.Duration(shrink(time.Duration(cfg.Global.ResolveTimeout), minRouteTiming))
	}
	var walk func(r *amconfig.Route)
	walk = func(r *amconfig.Route) {
		for _, d := range []*model.Duration{r.GroupWait, r.GroupInterval, r.RepeatInterval} {
			if d != nil {
				*d = model.Duration(shrink(time.Duration(*d), minRouteTiming))
			}
		}
		for _, child := range r.Routes {
			walk(child)
		}
	}
	walk(cfg.Route)
	for i := range cfg.Receivers {
		rcv := &cfg.Receivers[i] // by pointer: the webhook list is replaced
		if len(rcv.WebhookConfigs) == 0 {
			return nil, fmt.Errorf("receiver %q has no webhook; the end-to-end test can only receive webhooks", rcv.Name)
		}
		var hooks []*amconfig.WebhookConfig
		// The repository's receivers list one webhook per replica of the
		// compose stack, alike but for the URL: the first is the template
		// of this stack's own, one per replica.
		for _, wh := range rcv.WebhookConfigs[:1] {
			if wh.HTTPConfig == nil || wh.HTTPConfig.Authorization == nil || wh.HTTPConfig.Authorization.CredentialsFile == "" {
				return nil, fmt.Errorf("receiver %q: the webhook has no authorization.credentials_file", rcv.Name)
			}
			for _, u := range webhookURLs {
				// A copy deep enough that each URL's settings are its own.
				hook, httpCfg, auth := *wh, *wh.HTTPConfig, *wh.HTTPConfig.Authorization
				auth.CredentialsFile = tokenFile
				httpCfg.Authorization = &auth
				hook.HTTPConfig = &httpCfg
				hook.URL = amconfig.SecretTemplateURL(u)
				hook.URLFile = ""
				hooks = append(hooks, &hook)
			}
		}
		rcv.WebhookConfigs = hooks
	}
	out := cfg.String()
	if strings.HasPrefix(out, "<error") {
		return nil, errors.New(out)
	}
	if _, err := amconfig.Load(out); err != nil {
		return nil, fmt.Errorf("rewritten alertmanager.yml does not load: %w", err)
	}
	return []byte(out), nil
}

// writeFile writes b to path, readable by the owner only (it may hold a
// token).
func writeFile(path string, b []byte) error {
	return os.WriteFile(path, b, 0o600)
}
