// Package crossref proves that every metric a rule or a dashboard names is
// one the service really exports: it runs the real router on a temp SQLite
// database, exercises every route (including a panic and a webhook
// delivery), gathers the registry, and checks each PromQL expression of
// rules/ and grafana/dashboards/ against it. A typo in a rule or a panel
// fails `go test ./...`.
package crossref

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/gotool"
	"github.com/ordersvc/ordersvc/internal/promrefs"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/sqlite"
)

// external are series that exist without the service exporting them:
// Prometheus's own per-target and alert series. Recording-rule outputs are
// added from the rule files themselves.
var external = map[string]string{
	"up":                                    "Prometheus, per scrape target",
	"ALERTS":                                "Prometheus, per alert",
	"ALERTS_FOR_STATE":                      "Prometheus, per alert",
	"scrape_duration_seconds":               "Prometheus, per scrape target",
	"scrape_samples_scraped":                "Prometheus, per scrape target",
	"scrape_series_added":                   "Prometheus, per scrape target",
	"scrape_samples_post_metric_relabeling": "Prometheus, per scrape target",
}

// exported runs the service in-process and returns the names of every
// series its registry holds after one request of each kind.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, reg, metrics.BuildInfo{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), sqlite.Options{Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.SeedIfEmpty(context.Background(), ordersvc.DemoCatalog()); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterInventory(reg, db); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tracker, err := errortracking.New(errortracking.Options{Logger: logger, Panics: m, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tracker.Close)
	inj := &faults.Injector{}
	router := handlers.NewRouter(handlers.Deps{Orders: db, Inventory: db, Reports: db, Alerts: db, DB: db,
		Metrics: m, Tracker: tracker, Faults: inj, Logger: logger, AdminToken: "a", WebhookToken: "w"})
	do := func(method, path, body, token string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		router.ServeHTTP(httptest.NewRecorder(), req)
	}
	do("POST", "/orders", `{"product_id":"sku-1","quantity":1,"type":"online"}`, "")
	do("GET", "/inventory", "", "")
	do("GET", "/reports/summary", "", "")
	do("POST", "/webhooks/alertmanager", `{"version":"4","status":"firing","receiver":"r","alerts":[{"status":"firing",
		"labels":{"alertname":"X","severity":"warning"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"ab"}]}`, "w")
	inj.Set(faults.Config{PanicRate: 1})
	do("GET", "/inventory", "", "")

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	return names
}

func known(exported map[string]bool, recorded map[string]bool, name string) bool {
	if exported[name] || exported[promrefs.BaseName(name)] || recorded[name] {
		return true
	}
	_, ok := external[name]
	return ok
}

func TestRulesAndDashboardsNameExportedMetrics(t *testing.T) {
	root, err := gotool.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names := exported(t)
	for _, want := range []string{"http_requests_total", "http_request_duration_seconds", "http_requests_in_flight",
		"orders_created_total", "order_revenue_total", "orders_rejected_total", "inventory_level", "db_query_duration_seconds",
		"panics_recovered_total", "alerts_received_total", "app_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if !names[want] {
			t.Errorf("the service does not export %s (SPEC §4)", want)
		}
	}

	files, err := filepath.Glob(filepath.Join(root, "rules", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	recorded := map[string]bool{}
	var exprs []struct{ where, expr string }
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
				exprs = append(exprs, struct{ where, expr string }{filepath.Base(f) + " " + r.Alert + r.Record, r.Expr})
			}
		}
	}
	boards, err := dashboards.Load(filepath.Join(root, "grafana", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range boards {
		for _, q := range d.Queries() {
			if q.Datasource.UID != "" && q.Datasource.UID != "prometheus" {
				continue
			}
			expr, err := d.Render(q, dashboards.DefaultEnv(), nil)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			exprs = append(exprs, struct{ where, expr string }{q.String(), expr})
		}
	}
	checked := map[string]bool{}
	for _, e := range exprs {
		refs, err := promrefs.MetricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		for _, name := range refs {
			checked[name] = true
			if !known(names, recorded, name) {
				t.Errorf("%s names %s, which neither the service, a recording rule, nor Prometheus exports", e.where, name)
			}
		}
	}
	list := make([]string, 0, len(checked))
	for n := range checked {
		list = append(list, n)
	}
	sort.Strings(list)
	t.Logf("%d expressions checked; metrics named: %s", len(exprs), strings.Join(list, ", "))
	if len(exprs) < 20 {
		t.Errorf("only %d expressions found: the loaders missed rules or panels", len(exprs))
	}
}

// TestCrossCheckCatchesTypos makes sure the check can fail.
func TestCrossCheckCatchesTypos(t *testing.T) {
	names := exported(t)
	for _, expr := range []string{`rate(http_request_total[5m])`, `histogram_quantile(0.9, sum by (le) (rate(http_request_duration_second_bucket[5m])))`} {
		refs, err := promrefs.MetricNames(expr)
		if err != nil {
			t.Fatal(err)
		}
		if known(names, nil, refs[0]) {
			t.Errorf("typo %s was accepted", refs[0])
		}
	}
}
