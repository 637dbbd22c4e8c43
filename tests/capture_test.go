package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// update rewrites the webhook fixture from a fresh capture:
//
//	go test ./tests/ -run TestAlertmanagerWebhookCapture -args -update
var update = flag.Bool("update", false, "rewrite alertmanager/testdata/webhook-firing.json from a fresh Alertmanager capture")

// fixturePath is the captured firing payload, relative to the repository
// root. The README's curl example posts it.
const fixturePath = "alertmanager/testdata/webhook-firing.json"

// captureLabels are the labels of the alert the capture test posts: those
// Prometheus gives HighErrorRate (the rule aggregates by job).
var captureLabels = map[string]string{"alertname": "HighErrorRate", "job": "ordersvc", "severity": "critical"}

// TestAlertmanagerWebhookCapture proves the webhook receiver against what a
// real Alertmanager sends, byte for byte: one Alertmanager process notifies
// a recording server; each captured body (firing, then resolved) is replayed
// to the service built by internal/app, with a real SQLite store.
func TestAlertmanagerWebhookCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an Alertmanager")
	}
	amBin := testkit.Tool(t, "alertmanager")
	rec := newRecorder(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := writeFile(tokenFile, []byte(testkit.WebhookToken)); err != nil {
		t.Fatal(err)
	}
	cfg, err := captureAlertmanagerConfig(rec.srv.URL+"/webhooks/alertmanager", tokenFile)
	if err != nil {
		t.Fatalf("build the Alertmanager config: %v", err)
	}
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := writeFile(cfgFile, cfg); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	amURL := "http://127.0.0.1:" + strconv.Itoa(port)
	am := testkit.StartProc(t, "alertmanager", amBin, []string{
		"--config.file=" + cfgFile,
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
		// The URL the compose stack reaches it at, so the captured
		// payload's externalURL needs no normalising for the fixture.
		"--web.external-url=http://alertmanager:9093",
		"--web.route-prefix=/",
		"--cluster.listen-address=", // a single instance: no gossip
	}, testkit.ProcOptions{})
	am.WaitReady(t, amURL+"/-/ready", startTimeout)
	svc := testkit.NewService(t, testkit.ServiceOptions{})

	startsAt := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	postAlert(t, amURL, startsAt, startsAt.Add(time.Hour))
	firing := rec.wait(t, "a firing notification", func(p webhookBody) bool { return p.Status == ordersvc.AlertFiring })
	if got := firing.header.Get("Authorization"); got != "Bearer "+testkit.WebhookToken {
		t.Errorf("Alertmanager sent Authorization %q, want the bearer token from its credentials file", got)
	}
	if code, body := replay(svc, firing); code != http.StatusOK {
		t.Fatalf("replaying the captured firing notification: %d %s\n%s", code, body, firing.raw)
	}
	fp := firing.body.Alerts[0].Fingerprint
	stored := svc.Alerts("")
	if len(stored) != 1 {
		t.Fatalf("after the firing notification GET /alerts lists %d alerts, want 1: %+v", len(stored), stored)
	}
	a := stored[0]
	if a.Fingerprint != fp || !maps.Equal(a.Labels, captureLabels) || a.Status != ordersvc.AlertFiring ||
		!a.StartsAt.Equal(startsAt) || a.Receiver != "paging" || a.EndsAt != nil {
		t.Errorf("stored %+v, want fingerprint %s, labels %v, firing since %s, receiver paging, no endsAt", a, fp, captureLabels, startsAt)
	}
	if got := svc.Forwarded.Alerts(); len(got) != 1 || got[0].Fingerprint != fp {
		t.Errorf("forwarded to error tracking: %+v, want the one firing critical alert", got)
	}
	t.Logf("firing notification (%d bytes) replayed: stored %s %v", len(firing.raw), a.Fingerprint, a.Labels)

	// Resolve: the same alert with an end in the past.
	endsAt := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
	postAlert(t, amURL, startsAt, endsAt)
	resolved := rec.wait(t, "a resolved notification", func(p webhookBody) bool { return p.Status == ordersvc.AlertResolved })
	if code, body := replay(svc, resolved); code != http.StatusOK {
		t.Fatalf("replaying the captured resolved notification: %d %s\n%s", code, body, resolved.raw)
	}
	stored = svc.Alerts("")
	if len(stored) != 1 {
		t.Fatalf("after the resolved notification GET /alerts lists %d alerts, want 1: %+v", len(stored), stored)
	}
	a = stored[0]
	if a.Fingerprint != fp || a.Status != ordersvc.AlertResolved || a.EndsAt == nil || !a.EndsAt.Equal(endsAt) || a.Deliveries != 2 {
		t.Errorf("stored %+v, want %s resolved at %s after 2 deliveries", a, fp, endsAt)
	}
	if got := svc.Forwarded.Alerts(); len(got) != 1 {
		t.Errorf("a resolved notification was forwarded to error tracking: %d forwards, want still 1", len(got))
	}
	t.Logf("resolved notification (%d bytes) replayed: %s %s, endsAt %s", len(resolved.raw), a.Fingerprint, a.Status, a.EndsAt.Format(time.RFC3339Nano))

	checkFixture(t, firing.raw)
}

// checkFixture keeps the fixture representative of what this Alertmanager
// version sends: it must have the same JSON fields as a fresh capture. With
// -update, the fresh capture (indented, otherwise as sent) replaces it.
func checkFixture(t *testing.T, captured []byte) {
	t.Helper()
	path := testkit.RepoFile(t, fixturePath)
	if *update {
		var b bytes.Buffer
		if err := json.Indent(&b, captured, "", "  "); err != nil {
			t.Fatal(err)
		}
		b.WriteByte('\n')
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s from the capture", fixturePath)
		return
	}
	fixture, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the fixture (create it with -args -update): %v", err)
	}
	want, got := jsonPaths(t, captured), jsonPaths(t, fixture)
	if !slices.Equal(want, got) {
		t.Errorf("%s has fields %v, a fresh Alertmanager capture has %v: run go test ./tests/ -run TestAlertmanagerWebhookCapture -args -update",
			fixturePath, got, want)
	}
}

// TestWebhookFixtureDecodes checks the fixture the README posts: the
// service's own decoder accepts it as a firing HighErrorRate, and the real
// handler stores it.
func TestWebhookFixtureDecodes(t *testing.T) {
	b := testkit.ReadRepoFile(t, fixturePath)
	n, prob := handlers.DecodeWebhook(b)
	if prob != nil {
		t.Fatalf("DecodeWebhook(%s): %d %s", fixturePath, prob.Status, prob.Detail)
	}
	if n.Status != ordersvc.AlertFiring || len(n.Alerts) != 1 || n.Receiver != "paging" {
		t.Fatalf("fixture: status %q, receiver %q, %d alerts; want one firing alert for paging", n.Status, n.Receiver, len(n.Alerts))
	}
	a := n.Alerts[0]
	if !maps.Equal(a.Labels, captureLabels) || a.Fingerprint == "" || a.StartsAt.IsZero() || a.Annotations["runbook_url"] == "" {
		t.Errorf("fixture alert: %+v", a)
	}
	svc := testkit.NewService(t, testkit.ServiceOptions{})
	if code, body := replay(svc, captured{raw: b, header: http.Header{"Content-Type": {"application/json"}}}); code != http.StatusOK {
		t.Fatalf("posting the fixture: %d %s", code, body)
	}
	if got := svc.Alerts(""); len(got) != 1 || got[0].Fingerprint != a.Fingerprint {
		t.Errorf("after posting the fixture GET /alerts lists %+v", got)
	}
}

// captureAlertmanagerConfig builds a minimal Alertmanager config with the
// config package's types: one webhook receiver named like the repository's
// critical route, notifying at once and on resolution.
func captureAlertmanagerConfig(webhookURL, tokenFile string) ([]byte, error) {
	groupWait, groupInterval, repeat := model.Duration(0), model.Duration(time.Second), model.Duration(time.Hour)
	cfg := amconfig.Config{
		Route: &amconfig.Route{
			Receiver:       "paging",
			GroupByStr:     []string{"alertname", "job", "severity"},
			GroupWait:      &groupWait,
			GroupInterval:  &groupInterval,
			RepeatInterval: &repeat,
		},
		Receivers: []amconfig.Receiver{{
			Name: "paging",
			WebhookConfigs: []*amconfig.WebhookConfig{{
				NotifierConfig: amconfig.NotifierConfig{VSendResolved: true},
				URL:            amconfig.SecretTemplateURL(webhookURL),
				HTTPConfig: &commoncfg.HTTPClientConfig{
					Authorization: &commoncfg.Authorization{Type: "Bearer", CredentialsFile: tokenFile},
				},
				Timeout: 10 * time.Second,
			}},
		}},
	}
	out := cfg.String()
	if strings.HasPrefix(out, "<error") {
		return nil, fmt.Errorf("%s", out)
	}
	if _, err := amconfig.Load(out); err != nil {
		return nil, fmt.Errorf("the generated config does not load: %w\n%s", err, out)
	}
	return []byte(out), nil
}

// postAlert posts the capture alert to Alertmanager's API, as Prometheus
// would.
func postAlert(t *testing.T, amURL string, startsAt, endsAt time.Time) {
	t.Helper()
	body := []map[string]any{{
		"labels": captureLabels,
		"annotations": map[string]string{
			"summary":     "ordersvc: 12.5% of requests fail with 5xx",
			"description": "12.5% of the requests served by job ordersvc over the last 5 minutes answered with a 5xx status (threshold 5%, all instances, methods and endpoints together; 4xx are not counted).",
			"runbook_url": "https://github.com/ordersvc/ordersvc/blob/main/docs/runbooks/HighErrorRate.md",
		},
		"startsAt":     startsAt,
		"endsAt":       endsAt,
		"generatorURL": "http://prometheus:9090/graph?g0.expr=job%3Ahttp_requests_errors%3Aratio_rate5m+%3E+0.05&g0.tab=1",
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, raw, err := doJSON(ctx, http.MethodPost, amURL+"/api/v2/alerts", "", body, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %d %s %v", code, raw, err)
	}
}

// webhookBody is the part of a webhook payload the recorder matches on.
type webhookBody struct {
	Status string `json:"status"`
	Alerts []struct {
		Fingerprint string `json:"fingerprint"`
	} `json:"alerts"`
}

// captured is one request the recorder received.
type captured struct {
	raw    []byte
	header http.Header
	body   webhookBody
}

// recorder is an HTTP server on 127.0.0.1 that keeps every request body
// Alertmanager posts and answers 200.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []captured
}

// newRecorder starts a recorder, closed when the test ends.
func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c := captured{raw: raw, header: req.Header.Clone()}
		_ = json.Unmarshal(raw, &c.body) // a bad body is kept and fails the match
		r.mu.Lock()
		r.got = append(r.got, c)
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first request whose body matches, within alertTimeout.
func (r *recorder) wait(t *testing.T, what string, match func(webhookBody) bool) captured {
	t.Helper()
	var found captured
	testkit.WaitFor(t, "Alertmanager sends "+what, alertTimeout, func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.got {
			if match(c.body) && len(c.body.Alerts) > 0 {
				found = c
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d requests received", len(r.got))
	})
	return found
}

// replay posts a captured body, exactly as received and with the
// Content-Type it came with, to the in-process service's webhook.
func replay(svc *testkit.Service, c captured) (int, string) {
	w := svc.Webhook(string(c.raw), "Content-Type", c.header.Get("Content-Type"))
	return w.Code, w.Body.String()
}

// jsonPaths lists the object keys of a JSON document as sorted dotted paths
// ("alerts[].labels"), without the keys of label and annotation maps,
// whose names are data.
func jsonPaths(t *testing.T, b []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				p := strings.TrimPrefix(prefix+"."+k, ".")
				seen[p] = true
				switch k {
				case "labels", "annotations", "groupLabels", "commonLabels", "commonAnnotations":
					continue
				}
				walk(p, child)
			}
		case []any:
			for _, child := range v {
				walk(prefix+"[]", child)
			}
		}
	}
	walk("", doc)
	return slices.Sorted(maps.Keys(seen))
}
