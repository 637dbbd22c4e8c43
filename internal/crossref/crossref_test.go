package crossref

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/promrefs"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// specMetrics are the families SPEC §4 fixes (with one of the Go and one
// of the process collector's): the live registry must hold each.
var specMetrics = []string{"http_requests_total", "http_request_duration_seconds", "http_requests_in_flight",
	"orders_created_total", "order_revenue_total", "orders_rejected_total", "inventory_level", "db_query_duration_seconds",
	"panics_recovered_total", "alerts_received_total", "app_build_info", "go_goroutines", "process_cpu_seconds_total"}

// exported builds the service in process, sends one request of each kind
// (an order, the reads, a webhook delivery, a recovered panic) and returns
// the names of every family its registry then holds.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	svc := testkit.NewService(t, testkit.ServiceOptions{})
	want := func(what string, w *httptest.ResponseRecorder, code int) {
		t.Helper()
		if w.Code != code {
			t.Fatalf("exercising the service: %s answered %d, want %d: %s", what, w.Code, code, w.Body)
		}
	}
	want("POST /orders", svc.Do(http.MethodPost, "/orders", `{"product_id":"sku-1","quantity":1,"type":"online"}`), http.StatusCreated)
	want("GET /inventory", svc.Do(http.MethodGet, "/inventory", ""), http.StatusOK)
	want("GET /reports/summary", svc.Do(http.MethodGet, "/reports/summary", ""), http.StatusOK)
	want("the webhook", svc.Webhook(`{"version":"4","status":"firing","receiver":"r","alerts":[{"status":"firing",
		"labels":{"alertname":"X","severity":"warning"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"ab"}]}`), http.StatusOK)
	svc.Faults.Set(faults.Config{PanicRate: 1})
	want("GET /inventory with an injected panic", svc.Do(http.MethodGet, "/inventory", ""), http.StatusInternalServerError)

	families, err := svc.Registry.Gather()
	if err != nil {
		t.Fatalf("gather the registry: %v", err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	return names
}

// catalog is every series name a query may read.
type catalog struct {
	exported map[string]bool   // the service's live registry
	recorded map[string]bool   // outputs of the recording rules
	external map[string]string // External
}

// newCatalog is the catalog of the live service, the repository's
// recording rules and External.
func newCatalog(t *testing.T) catalog {
	t.Helper()
	return catalog{exported: exported(t), recorded: recordedNames(testkit.RuleFiles(t)), external: External()}
}

// known reports whether name is a series someone makes: histogram and
// summary series (x_bucket, x_sum, x_count) through their family.
func (c catalog) known(name string) bool {
	_, ext := c.external[name]
	return c.exported[name] || c.exported[promrefs.BaseName(name)] || c.recorded[name] || ext
}

// unknown returns the metric names expr reads that are not known.
func (c catalog) unknown(expr string) ([]string, error) {
	names, err := promrefs.MetricNames(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !c.known(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// recordedNames returns the names the recording rules of files define.
func recordedNames(files []testkit.RuleFile) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		for _, r := range f.Rules() {
			if r.Record != "" {
				out[r.Record] = true
			}
		}
	}
	return out
}

// expression is one PromQL expression of the repository and where it is.
type expression struct{ where, expr string }

// expressions returns every PromQL expression of the rule files, of the
// dashboards' Prometheus panels (rendered as Grafana would) and of their
// Prometheus query variables (with the variables' defaults substituted).
func expressions(t *testing.T) []expression {
	t.Helper()
	var out []expression
	for _, f := range testkit.RuleFiles(t) {
		for _, r := range f.Rules() {
			out = append(out, expression{filepath.Base(f.Path) + " " + r.Alert + r.Record, r.Expr})
		}
	}
	boards, err := dashboards.Load(testkit.RepoFile(t, "grafana/dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	prometheus := func(ref *dashboards.DatasourceRef) bool {
		return ref == nil || ref.UID == "" || ref.UID == "prometheus"
	}
	for _, d := range boards {
		for _, q := range d.Queries() {
			if !prometheus(&q.Datasource) {
				continue
			}
			expr, err := d.Render(q, dashboards.DefaultEnv(), nil)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			out = append(out, expression{q.String(), expr})
		}
		for _, v := range d.Variables {
			expr, ok := v.PromQL()
			if v.Type != "query" || !prometheus(v.Datasource) || !ok {
				continue // grafana/ reports query variables without a selector
			}
			expr, err := dashboards.Substitute(expr, d.Vars())
			if err != nil {
				t.Errorf("%s: variable %q: %v", d.UID, v.Name, err)
				continue
			}
			out = append(out, expression{d.UID + " variable " + v.Name, expr})
		}
	}
	return out
}

// TestRulesAndDashboardsNameExportedMetrics checks that the service exports
// the metrics of SPEC §4, and that every metric a rule, a dashboard panel
// or a dashboard variable reads is exported by the service, defined by a
// recording rule or listed in External.
func TestRulesAndDashboardsNameExportedMetrics(t *testing.T) {
	c := newCatalog(t)
	for _, want := range specMetrics {
		if !c.exported[want] {
			t.Errorf("the service does not export %s (SPEC §4)", want)
		}
	}
	exprs := expressions(t)
	checked := map[string]bool{}
	for _, e := range exprs {
		refs, err := promrefs.MetricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		for _, name := range refs {
			checked[name] = true
			if !c.known(name) {
				t.Errorf("%s names %s, which neither the service, a recording rule, nor Prometheus exports", e.where, name)
			}
		}
	}
	t.Logf("%d expressions checked; metrics named: %s", len(exprs), strings.Join(slices.Sorted(maps.Keys(checked)), ", "))
	if len(exprs) < 20 {
		t.Errorf("only %d expressions found: the loaders missed rules or panels", len(exprs))
	}
	if !slices.ContainsFunc(exprs, func(e expression) bool { return strings.Contains(e.where, " variable ") }) {
		t.Error("no dashboard variable query found: the loader missed them")
	}
}

// TestCrossCheckCatchesTypos makes sure the check can fail, and passes
// what it must: the service's families and their histogram series, the Go
// and process collectors, Prometheus' own series and recording rules.
func TestCrossCheckCatchesTypos(t *testing.T) {
	c := catalog{exported: exported(t), recorded: map[string]bool{"job:http_requests:rate5m": true}, external: External()}
	tests := []struct {
		expr    string
		unknown []string
	}{
		{`sum(rate(http_requests_total[5m]))`, nil},
		{`histogram_quantile(0.9, sum by (le) (rate(db_query_duration_seconds_bucket[5m])))`, nil},
		{`up == 0 or ALERTS{alertstate="firing"}`, nil},
		{`go_goroutines + process_resident_memory_bytes`, nil},
		{`job:http_requests:rate5m`, nil},
		{`rate(http_request_total[5m])`, []string{"http_request_total"}},
		{`http_requests_totals`, []string{"http_requests_totals"}},
		{`histogram_quantile(0.9, sum by (le) (rate(http_request_duration_second_bucket[5m])))`, []string{"http_request_duration_second_bucket"}},
		{`sum(rate(http_request_duration_seconds_bucke[5m]))`, []string{"http_request_duration_seconds_bucke"}},
		{`job:http_errors:rate5m`, []string{"job:http_errors:rate5m"}},
		{`orders_total / up`, []string{"orders_total"}},
	}
	for _, tt := range tests {
		got, err := c.unknown(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if !slices.Equal(got, tt.unknown) {
			t.Errorf("unknown(%s) = %v, want %v", tt.expr, got, tt.unknown)
		}
	}
}
