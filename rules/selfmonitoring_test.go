package rules_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ordersvc/ordersvc/internal/promrefs"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// The self-monitoring rules are only as good as the metric names and labels
// they assume. TestSelfMonitoringAgainstRealBinaries starts the pinned
// Prometheus and two clustered Alertmanagers on loopback, makes each of the
// failures the rules watch for happen for real, and checks the rules
// against what the binaries export and what the expressions return.

// notFromTheWatchers are the metrics the rules name that neither Prometheus
// nor Alertmanager exports on /metrics, and where each is proven instead.
// The rest of the service's own metrics (ruleMetrics, exporter "ordersvc")
// are likewise internal/crossref's.
var notFromTheWatchers = map[string]string{
	"db_up":                       "the service (SPEC §4), checked against its registry by internal/crossref",
	"sentry_events_dropped_total": "the service's error tracker, checked by internal/crossref and errortracking",
	"pg_up":                       "postgres_exporter (job postgres), not started here",
	"up":                          "synthesised by Prometheus for every target, never on /metrics",
}

// selfMonitoringFile is the rule file of the Prometheus and Alertmanager
// alerts: every metric it names must come from one of the two binaries.
const selfMonitoringFile = "selfmonitoring.rules.yml"

// Bounds of the stack's start and of each awaited condition.
const (
	watcherStartTimeout = 90 * time.Second
	watcherCondTimeout  = 60 * time.Second
)

// watchers is the running stack.
type watchers struct {
	promURL     string // http://127.0.0.1:port
	promConfig  string // the config file, rewritten by reload cases
	promRules   string
	amURLs      []string
	amConfigs   []string
	brokenAM    string // host:port of the fake Alertmanager answering 500
	webhookHits atomic.Int64
}

// startWatchers starts:
//   - a webhook receiver that answers 401, as the service does when the
//     bearer token is wrong;
//   - a fake Alertmanager that answers 500 to every alert push;
//   - two Alertmanagers clustered on loopback (alertmanager_cluster_* only
//     exist with clustering on), routing everything to that webhook;
//   - Prometheus scraping itself (job prometheus) and both Alertmanagers
//     (job alertmanager), with an always-firing alert to send and a
//     recording rule that fails at every evaluation, sending alerts to the
//     two Alertmanagers and to the fake one.
func startWatchers(t *testing.T) *watchers {
	t.Helper()
	w := &watchers{}
	dir := t.TempDir()

	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.webhookHits.Add(1)
		http.Error(rw, "unauthorized", http.StatusUnauthorized)
	}))
	t.Cleanup(hook.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "broken on purpose", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	w.brokenAM = strings.TrimPrefix(broken.URL, "http://")

	amBin := testkit.Tool(t, "alertmanager")
	promBin := testkit.Tool(t, "prometheus")

	const members = 2
	var webPorts, clusterPorts []int
	for range members {
		webPorts = append(webPorts, testkit.FreePort(t))
		clusterPorts = append(clusterPorts, testkit.FreePort(t))
	}
	amConfig := fmt.Sprintf(`route:
  receiver: webhook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1m
receivers:
  - name: webhook
    webhook_configs:
      - url: %s/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: not-the-service-token
`, hook.URL)
	for i := range members {
		cfg := filepath.Join(dir, fmt.Sprintf("alertmanager-%d.yml", i))
		writeFile(t, cfg, amConfig)
		w.amConfigs = append(w.amConfigs, cfg)
		cluster := "127.0.0.1:" + strconv.Itoa(clusterPorts[i])
		args := []string{
			"--config.file=" + cfg,
			"--storage.path=" + filepath.Join(dir, fmt.Sprintf("am-data-%d", i)),
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(webPorts[i]),
			"--cluster.listen-address=" + cluster,
			"--cluster.advertise-address=" + cluster,
			"--cluster.peer-timeout=1s",
			"--cluster.gossip-interval=50ms",
			"--cluster.pushpull-interval=1s",
			"--cluster.settle-timeout=2s",
		}
		for j := range members {
			if j != i {
				args = append(args, "--cluster.peer=127.0.0.1:"+strconv.Itoa(clusterPorts[j]))
			}
		}
		testkit.StartProc(t, fmt.Sprintf("alertmanager-%d", i), amBin, args, testkit.ProcOptions{Dir: dir})
		w.amURLs = append(w.amURLs, "http://127.0.0.1:"+strconv.Itoa(webPorts[i]))
	}

	promPort := testkit.FreePort(t)
	promAddr := "127.0.0.1:" + strconv.Itoa(promPort)
	w.promURL = "http://" + promAddr
	w.promRules = filepath.Join(dir, "selftest.rules.yml")
	// The recording rule selects two metrics with identical labels once
	// __name__ is dropped: "vector contains metrics with the same labelset
	// after applying rule labels", at every evaluation.
	writeFile(t, w.promRules, `groups:
  - name: selftest
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
      - record: selftest:duplicate_labelsets
        expr: '{__name__=~"up|scrape_duration_seconds", job="prometheus"}'
`)
	w.promConfig = filepath.Join(dir, "prometheus.yml")
	writeFile(t, w.promConfig, w.prometheusConfig(true))
	testkit.StartProc(t, "prometheus", promBin, []string{
		"--config.file=" + w.promConfig,
		"--storage.tsdb.path=" + filepath.Join(dir, "prom-data"),
		"--web.listen-address=" + promAddr,
		"--web.enable-lifecycle",
		// Resend the firing alert every second, so that sends (and their
		// failures) keep happening while the test waits.
		"--rules.alert.resend-delay=1s",
	}, testkit.ProcOptions{Dir: dir})

	for _, u := range append([]string{w.promURL}, w.amURLs...) {
		testkit.WaitFor(t, u+" ready", watcherStartTimeout, func() (bool, string) {
			resp, err := testkit.HTTPClient.Get(u + "/-/ready")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status
		})
	}
	return w
}

// prometheusConfig renders the Prometheus configuration, with or without
// its Alertmanagers.
func (w *watchers) prometheusConfig(withAlerting bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s\n", w.promRules)
	if withAlerting {
		b.WriteString("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets:\n")
		for _, u := range w.amURLs {
			fmt.Fprintf(&b, "            - %s\n", strings.TrimPrefix(u, "http://"))
		}
		fmt.Fprintf(&b, "            - %s\n", w.brokenAM)
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [%s]\n", strings.TrimPrefix(w.promURL, "http://"))
	b.WriteString("  - job_name: alertmanager\n    static_configs:\n      - targets:\n")
	for _, u := range w.amURLs {
		fmt.Fprintf(&b, "          - %s\n", strings.TrimPrefix(u, "http://"))
	}
	return b.String()
}

// reload asks a server to reload its configuration and returns the status.
func reload(t *testing.T, base string) int {
	t.Helper()
	resp, err := testkit.HTTPClient.Post(base+"/-/reload", "text/plain", nil)
	if err != nil {
		t.Fatalf("reload %s: %v", base, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// querySample is one element of an instant query's vector result.
type querySample struct {
	labels map[string]string
	value  float64
}

func (s querySample) String() string { return fmt.Sprintf("%v => %g", s.labels, s.value) }

// query runs an instant query against Prometheus.
func (w *watchers) query(expr string) ([]querySample, error) {
	resp, err := testkit.HTTPClient.Get(w.promURL + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode query response (%s): %w", resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", expr, body.Data.ResultType)
	}
	out := make([]querySample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", expr, r.Value[1], err)
		}
		out = append(out, querySample{labels: r.Metric, value: v})
	}
	return out, nil
}

// waitQuery polls expr until ok accepts its result.
func (w *watchers) waitQuery(t *testing.T, what, expr string, ok func([]querySample) bool) []querySample {
	t.Helper()
	var last []querySample
	testkit.WaitFor(t, what, watcherCondTimeout, func() (bool, string) {
		res, err := w.query(expr)
		if err != nil {
			return false, err.Error()
		}
		last = res
		return ok(res), fmt.Sprintf("%v", res)
	})
	return last
}

// selfMonitoringExprs returns the expression of every alert of
// selfMonitoringFile by name (one rule per alert there).
func selfMonitoringExprs(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, f := range parseRuleFiles(t) {
		if filepath.Base(f.path) != selfMonitoringFile {
			continue
		}
		for _, r := range allRules([]parsedFile{f}) {
			if r.Alert == "" {
				continue
			}
			if _, dup := exprs[r.Alert]; dup {
				t.Fatalf("alert %s has more than one rule in %s", r.Alert, selfMonitoringFile)
			}
			exprs[r.Alert] = r.Expr
		}
	}
	if len(exprs) == 0 {
		t.Fatalf("no alerts in %s", selfMonitoringFile)
	}
	return exprs
}

func TestSelfMonitoringAgainstRealBinaries(t *testing.T) {
	w := startWatchers(t)
	prom := strings.TrimPrefix(w.promURL, "http://")
	brokenURL := "http://" + w.brokenAM + "/api/v2/alerts"

	// Let every failure the rules watch for happen, and the cluster form,
	// before anything is checked: the labelled series appear with their
	// first event (or their first configured integration / rule group).
	w.waitQuery(t, "both Alertmanagers see a cluster of 2 (scraped by Prometheus)",
		`alertmanager_cluster_members{job="alertmanager"} == 2`,
		func(r []querySample) bool { return len(r) == 2 })
	w.waitQuery(t, "sends to the broken Alertmanager fail",
		`prometheus_notifications_errors_total{job="prometheus", alertmanager="`+brokenURL+`"} > 0`,
		func(r []querySample) bool { return len(r) == 1 })
	w.waitQuery(t, "the broken recording rule fails",
		`prometheus_rule_evaluation_failures_total{job="prometheus"} > 0`,
		func(r []querySample) bool { return len(r) > 0 })
	w.waitQuery(t, "webhook notifications fail with clientError (401)",
		`alertmanager_notifications_failed_total{job="alertmanager", integration="webhook", reason="clientError"} > 0`,
		func(r []querySample) bool { return len(r) > 0 })
	if w.webhookHits.Load() == 0 {
		t.Fatal("the webhook was never called, yet notifications failed")
	}

	t.Run("every metric the rules name is exported", func(t *testing.T) {
		families := map[string]map[string]*dto.MetricFamily{
			"prometheus":   testkit.Scrape(t, w.promURL+"/metrics"),
			"alertmanager": testkit.Scrape(t, w.amURLs[0]+"/metrics"),
		}
		named := map[string][]string{} // metric -> alerts naming it
		for _, f := range parseRuleFiles(t) {
			for _, g := range f.groups.Groups {
				for _, r := range g.Rules {
					names, err := promrefs.MetricNames(r.Expr)
					if err != nil {
						t.Fatalf("%s: %v", ruleName(r), err)
					}
					for _, n := range names {
						if !strings.Contains(n, ":") {
							named[n] = append(named[n], ruleName(r))
						}
					}
				}
			}
		}
		var report []string
		for _, n := range sortedKeys(named) {
			src, ok := metricSourceOf(n)
			if !ok {
				t.Errorf("%s (named by %v) is not in ruleMetrics", n, named[n])
				continue
			}
			fams, fromBinary := families[src.exporter]
			if !fromBinary {
				if why, listed := notFromTheWatchers[n]; listed {
					report = append(report, fmt.Sprintf("%-52s excluded: %s", n, why))
				} else if src.exporter != "ordersvc" {
					t.Errorf("%s is exported by %s, which this test does not start, and is not in notFromTheWatchers", n, src.exporter)
				}
				continue
			}
			fam, found := fams[n]
			if !found {
				t.Errorf("%s (named by %v) is not exported by the pinned %s", n, named[n], src.exporter)
				continue
			}
			var ls []string
			for _, l := range fam.GetMetric()[0].GetLabel() {
				ls = append(ls, l.GetName())
			}
			report = append(report, fmt.Sprintf("%-52s found in %s (%s, %d series, labels %v)",
				n, src.exporter, strings.ToLower(fam.GetType().String()), len(fam.GetMetric()), ls))
		}
		for n := range notFromTheWatchers {
			if _, ok := named[n]; !ok {
				t.Errorf("notFromTheWatchers lists %s, which no rule names", n)
			}
		}
		// Every metric of the self-monitoring alerts comes from a binary.
		for alert, expr := range selfMonitoringExprs(t) {
			names, _ := promrefs.MetricNames(expr)
			for _, n := range names {
				if src, _ := metricSourceOf(n); src != fromPrometheus && src != fromAlertmanager {
					t.Errorf("%s (in %s) names %s, which is not a Prometheus or Alertmanager metric", alert, selfMonitoringFile, n)
				}
			}
		}
		t.Logf("metrics named by the rules:\n  %s", strings.Join(report, "\n  "))
	})

	// The expressions, without their `for`, evaluated by the real
	// Prometheus over what it scraped from the real binaries: they select
	// the failures that happened, with the labels the alerts rely on, and
	// nothing on the healthy parts.
	exprs := selfMonitoringExprs(t)

	t.Run("healthy parts raise nothing", func(t *testing.T) {
		for _, alert := range []string{"PrometheusBadConfig", "PrometheusNotConnectedToAlertmanagers", "AlertmanagerFailedReload", "AlertmanagerMembersInconsistent"} {
			res, err := w.query(exprs[alert])
			if err != nil {
				t.Fatalf("%s: %v", alert, err)
			}
			if len(res) != 0 {
				t.Errorf("%s returns %v on a healthy stack", alert, res)
			}
		}
		// The rules' inputs are there, so the empty results above are
		// verdicts, not missing data.
		for _, in := range []string{
			`prometheus_config_last_reload_successful{job="prometheus"} == 1`,
			`prometheus_notifications_alertmanagers_discovered{job="prometheus"} == 3`,
			`alertmanager_config_last_reload_successful{job="alertmanager"} == 1`,
		} {
			res, err := w.query(in)
			if err != nil || len(res) == 0 {
				t.Errorf("%s: %v %v", in, res, err)
			}
		}
	})

	t.Run("PrometheusRuleFailures selects the failing group", func(t *testing.T) {
		res := w.waitQuery(t, "PrometheusRuleFailures", exprs["PrometheusRuleFailures"],
			func(r []querySample) bool { return len(r) > 0 })
		for _, s := range res {
			if !strings.HasSuffix(s.labels["rule_group"], ";selftest") || s.labels["instance"] != prom || s.labels["job"] != "prometheus" {
				t.Errorf("unexpected series %v", s)
			}
		}
	})

	t.Run("PrometheusErrorSendingAlertsToSomeAlertmanagers: a total failure is a 100% share", func(t *testing.T) {
		// Prometheus 3 counts only successful sends in sent_total: the
		// reason the share's denominator is errors + sent.
		sent, err := w.query(`prometheus_notifications_sent_total{job="prometheus", alertmanager="` + brokenURL + `"}`)
		if err != nil || len(sent) != 1 || sent[0].value != 0 {
			t.Errorf("sent_total to the broken Alertmanager = %v (%v), want one series at 0", sent, err)
		}
		res := w.waitQuery(t, "PrometheusErrorSendingAlertsToSomeAlertmanagers", exprs["PrometheusErrorSendingAlertsToSomeAlertmanagers"],
			func(r []querySample) bool { return len(r) > 0 })
		if len(res) != 1 || res[0].labels["alertmanager"] != brokenURL || res[0].labels["instance"] != prom || res[0].value != 1 {
			t.Errorf("got %v, want only the broken Alertmanager %s at 1", res, brokenURL)
		}
	})

	t.Run("AlertmanagerFailedToSendAlerts: a webhook answering 401", func(t *testing.T) {
		res := w.waitQuery(t, "AlertmanagerFailedToSendAlerts", exprs["AlertmanagerFailedToSendAlerts"],
			func(r []querySample) bool { return len(r) > 0 })
		// Every notification fails; the share can only fall short of 1 by
		// a scrape taken between a notification's two counter increments.
		for _, s := range res {
			if s.labels["integration"] != "webhook" || s.labels["job"] != "alertmanager" || s.value < 0.9 || s.value > 1 {
				t.Errorf("unexpected series %v, want integration webhook near 1", s)
			}
			if _, kept := s.labels["reason"]; kept {
				t.Errorf("%v keeps the reason label: the share must be of all reasons", s)
			}
		}
	})

	t.Run("AlertmanagerFailedReload after a broken config", func(t *testing.T) {
		writeFile(t, w.amConfigs[0], "route: {receiver: nowhere}\nreceivers: []\n")
		if code := reload(t, w.amURLs[0]); code == http.StatusOK {
			t.Fatalf("reload of an invalid Alertmanager config answered %d", code)
		}
		res := w.waitQuery(t, "AlertmanagerFailedReload", exprs["AlertmanagerFailedReload"],
			func(r []querySample) bool { return len(r) > 0 })
		if want := strings.TrimPrefix(w.amURLs[0], "http://"); len(res) != 1 || res[0].labels["instance"] != want {
			t.Errorf("got %v, want only %s", res, want)
		}
	})

	t.Run("PrometheusNotConnectedToAlertmanagers without alerting config", func(t *testing.T) {
		writeFile(t, w.promConfig, w.prometheusConfig(false))
		if code := reload(t, w.promURL); code != http.StatusOK {
			t.Fatalf("reload of a valid Prometheus config answered %d", code)
		}
		res := w.waitQuery(t, "PrometheusNotConnectedToAlertmanagers", exprs["PrometheusNotConnectedToAlertmanagers"],
			func(r []querySample) bool { return len(r) > 0 })
		if len(res) != 1 || res[0].labels["instance"] != prom {
			t.Errorf("got %v, want only %s", res, prom)
		}
	})

	t.Run("PrometheusBadConfig after a broken config", func(t *testing.T) {
		writeFile(t, w.promConfig, "global:\n  scrape_interval: not-a-duration\n")
		if code := reload(t, w.promURL); code == http.StatusOK {
			t.Fatalf("reload of an invalid Prometheus config answered %d", code)
		}
		res := w.waitQuery(t, "PrometheusBadConfig", exprs["PrometheusBadConfig"],
			func(r []querySample) bool { return len(r) > 0 })
		if len(res) != 1 || res[0].labels["instance"] != prom {
			t.Errorf("got %v, want only %s", res, prom)
		}
	})
}

// writeFile writes content to path or fails the test.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
