package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// startTimeout bounds the start-up of each process of the stack.
const startTimeout = 60 * time.Second

// stack is the whole alerting path, on loopback: the service, two
// clustered Alertmanagers, a Prometheus that scrapes the service and sends
// to both, and a local Sentry sink the service reports to.
type stack struct {
	t       *testing.T
	dir     string
	sink    *sentrytest.Sink
	service *testkit.Proc
	svcURL  string
	ams     []*testkit.Proc
	amURLs  []string
	prom    *testkit.Proc
	promURL string
	started time.Time // when the service was started
	opts    stackOptions
	amBin   string     // the Alertmanager binary, for restartAlertmanager
	amArgs  [][]string // each Alertmanager's flags, for restartAlertmanager
	// The scale-out stack (replicas_test.go) sets these before starting
	// Alertmanager and Prometheus; the single-service stack leaves them
	// empty.
	replicaURLs []string // every replica: each scraped, each a webhook of every receiver
	pgExporter  string   // postgres_exporter's host:port, the postgres job's target
}

// serviceURLs returns the base URL of every instance of the ordersvc job.
func (s *stack) serviceURLs() []string {
	if len(s.replicaURLs) > 0 {
		return s.replicaURLs
	}
	return []string{s.svcURL}
}

// stackOptions change what startStackWith starts; the zero value is the
// stack of startStack.
type stackOptions struct {
	// serviceEnv is added to the service's environment (HEARTBEAT_TIMEOUT,
	// OTEL_*, …).
	serviceEnv []string
	// ruleFiles are the repository's rule files Prometheus loads, made
	// fast (default rules/ordersvc.rules.yml).
	ruleFiles []string
	// prometheusArgs are added to Prometheus' flags (feature flags).
	prometheusArgs []string
	// noAlertmanagers starts no Alertmanager: Prometheus then sends its
	// alerts nowhere.
	noAlertmanagers bool
}

// startStack starts every component and waits until each is ready; every
// process is stopped when the test ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{})
}

// startStackWith is startStack changed by o.
func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	svcBin := testkit.ServiceBinary(t)
	promBin := testkit.Tool(t, "prometheus")

	s := &stack{t: t, dir: t.TempDir(), opts: o}
	s.sink = sentrytest.New(t, sentrytest.Options{})
	s.startService(svcBin)
	if !o.noAlertmanagers {
		s.startAlertmanagers(testkit.Tool(t, "alertmanager"), 2)
	}
	s.startPrometheus(promBin)
	return s
}

// startService runs the service on a kernel-chosen port (testkit reads
// the address back from its "ordersvc listening" log line) and waits until
// it is ready.
func (s *stack) startService(bin string) {
	t := s.t
	t.Helper()
	s.started = time.Now()
	svc := testkit.StartServiceProc(t, testkit.ServiceProcOptions{
		Bin:    bin,
		DBPath: filepath.Join(s.dir, "ordersvc.db"),
		Env: append([]string{
			"SENTRY_DSN=" + s.sink.DSN(),
			"SENTRY_ENVIRONMENT=e2e",
			"SHUTDOWN_TIMEOUT=10s",
		}, s.opts.serviceEnv...),
	})
	s.service, s.svcURL = svc.Proc, svc.URL
}

// startAlertmanagers runs n Alertmanagers in one gossip cluster, with the
// repository's alertmanager.yml made fast, and waits until each sees all
// peers.
func (s *stack) startAlertmanagers(bin string, n int) {
	t := s.t
	t.Helper()
	tokenFile := filepath.Join(s.dir, "alert_webhook_token")
	if err := writeFile(tokenFile, []byte(testkit.WebhookToken)); err != nil {
		t.Fatal(err)
	}
	var hooks []string
	for _, u := range s.serviceURLs() {
		hooks = append(hooks, u+"/webhooks/alertmanager")
	}
	cfg, err := fastAlertmanagerConfigHooks(testkit.RepoFile(t, "alertmanager/alertmanager.yml"), hooks, tokenFile)
	if err != nil {
		t.Fatalf("rewrite alertmanager.yml: %v", err)
	}
	cfgFile := filepath.Join(s.dir, "alertmanager.yml")
	if err := writeFile(cfgFile, cfg); err != nil {
		t.Fatal(err)
	}
	s.amBin = bin
	webPorts, clusterPorts := make([]int, n), make([]int, n)
	for i := range n {
		webPorts[i], clusterPorts[i] = testkit.FreePort(t), testkit.FreePort(t)
	}
	for i := range n {
		storage := filepath.Join(s.dir, "alertmanager-"+strconv.Itoa(i))
		cluster := "127.0.0.1:" + strconv.Itoa(clusterPorts[i])
		args := []string{
			"--config.file=" + cfgFile,
			"--storage.path=" + storage,
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(webPorts[i]),
			"--cluster.listen-address=" + cluster,
			"--cluster.advertise-address=" + cluster,
			// The second of a pair waits one peer timeout for the first to
			// notify and gossip that it did; short, so a duplicate (which
			// the receiver must absorb) is possible but rare.
			"--cluster.peer-timeout=3s",
			"--cluster.gossip-interval=50ms",
			"--cluster.pushpull-interval=2s",
			"--cluster.settle-timeout=5s",
			"--log.level=debug",
		}
		for j := range n {
			if j != i {
				args = append(args, "--cluster.peer=127.0.0.1:"+strconv.Itoa(clusterPorts[j]))
			}
		}
		p := testkit.StartProc(t, "alertmanager-"+strconv.Itoa(i), bin, args, testkit.ProcOptions{})
		s.ams = append(s.ams, p)
		s.amArgs = append(s.amArgs, args)
		s.amURLs = append(s.amURLs, "http://127.0.0.1:"+strconv.Itoa(webPorts[i]))
	}
	for i, p := range s.ams {
		p.WaitReady(t, s.amURLs[i]+"/-/ready", startTimeout)
	}
	for i, u := range s.amURLs {
		testkit.WaitFor(t, fmt.Sprintf("alertmanager-%d sees a settled cluster of %d", i, n), startTimeout, func() (bool, string) {
			var st struct {
				Cluster struct {
					Status string `json:"status"`
					Peers  []struct {
						Address string `json:"address"`
					} `json:"peers"`
				} `json:"cluster"`
			}
			if err := getJSON(u+"/api/v2/status", "", &st); err != nil {
				return false, err.Error()
			}
			return st.Cluster.Status == "ready" && len(st.Cluster.Peers) == n,
				fmt.Sprintf("cluster status %q with %d peers", st.Cluster.Status, len(st.Cluster.Peers))
		})
	}
}

// startPrometheus runs Prometheus with the repository's prometheus.yml and
// rules made fast, and waits until the service's target is up.
func (s *stack) startPrometheus(bin string) {
	t := s.t
	t.Helper()
	ruleFiles := s.opts.ruleFiles
	if len(ruleFiles) == 0 {
		ruleFiles = []string{"rules/ordersvc.rules.yml"}
	}
	// One directory and a glob, as in production's rule_files.
	rulesDir := filepath.Join(s.dir, "rules")
	if err := os.Mkdir(rulesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, rel := range ruleFiles {
		rules, err := fastRules(testkit.RepoFile(t, rel))
		if err != nil {
			t.Fatalf("rewrite %s: %v", rel, err)
		}
		if err := writeFile(filepath.Join(rulesDir, filepath.Base(rel)), rules); err != nil {
			t.Fatal(err)
		}
	}
	rulesFile := filepath.Join(rulesDir, "*.yml")
	port := testkit.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var amAddrs []string
	for _, u := range s.amURLs {
		amAddrs = append(amAddrs, u[len("http://"):])
	}
	var services []string
	for _, u := range s.serviceURLs() {
		services = append(services, u[len("http://"):])
	}
	cfg, err := fastPrometheusConfig(testkit.RepoFile(t, "prometheus/prometheus.yml"), rulesFile, promTargets{
		service: services[0], replicas: services, prometheus: addr, alertmanagers: amAddrs,
		postgresExporter: s.pgExporter,
	})
	if err != nil {
		t.Fatalf("rewrite prometheus.yml: %v", err)
	}
	cfgFile := filepath.Join(s.dir, "prometheus.yml")
	if err := writeFile(cfgFile, cfg); err != nil {
		t.Fatal(err)
	}
	s.prom = testkit.StartProc(t, "prometheus", bin, append([]string{
		"--config.file=" + cfgFile,
		"--storage.tsdb.path=" + filepath.Join(s.dir, "prometheus"),
		"--web.listen-address=" + addr,
		// Resend firing alerts every 2s rather than every minute, so an
		// Alertmanager that missed a send catches up at the stack's pace.
		"--rules.alert.resend-delay=2s",
	}, s.opts.prometheusArgs...), testkit.ProcOptions{})
	s.promURL = "http://" + addr
	s.prom.WaitReady(t, s.promURL+"/-/ready", startTimeout)
	testkit.WaitFor(t, "prometheus scrapes every instance of the service (up{job=\"ordersvc\"} == 1)", startTimeout, func() (bool, string) {
		v, err := s.promQuery(`up{job="ordersvc"} == 1`)
		if err != nil {
			return false, err.Error()
		}
		return len(v) == len(services), fmt.Sprintf("%d of %d up: %+v", len(v), len(services), v)
	})
}

// promSample is one element of an instant-vector query result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// promQuery runs an instant query and returns a vector result.
func (s *stack) promQuery(q string) ([]promSample, error) {
	var r struct {
		Data struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(s.promURL+"/api/v1/query?query="+url.QueryEscape(q), "", &r); err != nil {
		return nil, err
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", q, r.Data.ResultType)
	}
	return r.Data.Result, nil
}

// promAlert is one alert of Prometheus' /api/v1/alerts.
type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

// promAlerts returns Prometheus' active alerts.
func (s *stack) promAlerts() ([]promAlert, error) {
	var r struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	err := getJSON(s.promURL+"/api/v1/alerts", "", &r)
	return r.Data.Alerts, err
}

// amAlert is one alert of Alertmanager's /api/v2/alerts.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Fingerprint string            `json:"fingerprint"`
	StartsAt    time.Time         `json:"startsAt"`
	Status      struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// amAlerts returns the alerts Alertmanager i holds.
func (s *stack) amAlerts(i int) ([]amAlert, error) {
	var r []amAlert
	err := getJSON(s.amURLs[i]+"/api/v2/alerts", "", &r)
	return r, err
}

// storedAlerts returns what the service's GET /alerts lists.
func (s *stack) storedAlerts() ([]ordersvc.Alert, error) {
	var r struct {
		Alerts []ordersvc.Alert `json:"alerts"`
	}
	err := getJSON(s.svcURL+"/alerts?limit=500", testkit.AdminToken, &r)
	return r.Alerts, err
}

// setFaults sets fault injection through the admin API.
func (s *stack) setFaults(body map[string]any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, raw, err := doJSON(ctx, http.MethodPut, s.svcURL+"/admin/faults", testkit.AdminToken, body, nil)
	if err != nil || code != http.StatusOK {
		s.t.Fatalf("PUT /admin/faults %v: %d %s %v", body, code, raw, err)
	}
}
