// Package grafana_test checks the provisioned Grafana configuration of the
// compose stack statically: dashboards load, their panels are laid out and
// documented, every PromQL query parses after Grafana's variables are
// substituted, uses Grafana's range variables instead of literal windows,
// aggregates the way SPEC §5/§8 require, and references only provisioned
// datasources. That every metric a panel or a variable reads really exists
// is checked against the live service by internal/crossref.
package grafana_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/crossref"
	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/promrefs"
)

const (
	dashboardDir   = "dashboards"
	datasourceDir  = "provisioning/datasources"
	providerDir    = "provisioning/dashboards"
	serviceUID     = "ordersvc"
	minSchema      = 39 // Grafana 11+
	gridColumns    = 24
	serviceJob     = "ordersvc"
	containerDashs = "/var/lib/grafana/dashboards"
)

func loadDashboards(t *testing.T) []dashboards.Dashboard {
	t.Helper()
	ds, err := dashboards.Load(dashboardDir)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestDashboardFiles(t *testing.T) {
	ds := loadDashboards(t)
	uids, titles := map[string]string{}, map[string]string{}
	var service *dashboards.Dashboard
	for i, d := range ds {
		if d.UID == "" || len(d.UID) > 40 {
			t.Errorf("%s: uid %q: want a fixed uid of 1..40 characters", d.File, d.UID)
		}
		if prev, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", d.File, d.UID, prev)
		}
		uids[d.UID] = d.File
		if prev, dup := titles[d.Title]; dup || d.Title == "" {
			t.Errorf("%s: title %q empty or already used by %s", d.File, d.Title, prev)
		}
		titles[d.Title] = d.File
		if d.SchemaVersion < minSchema {
			t.Errorf("%s: schemaVersion %d, want ≥ %d", d.File, d.SchemaVersion, minSchema)
		}
		if id, ok := d.Raw["id"]; ok && id != nil {
			t.Errorf("%s: id %v: provisioned dashboards must not carry a database id", d.File, id)
		}
		if d.UID == serviceUID {
			service = &ds[i]
		}
	}
	if service == nil {
		t.Fatalf("no dashboard with uid %q in %s", serviceUID, dashboardDir)
	}
	if filepath.Base(service.File) != serviceUID+".json" {
		t.Errorf("service dashboard is %s, want %s.json", service.File, serviceUID)
	}
}

func TestPanelLayout(t *testing.T) {
	for _, d := range loadDashboards(t) {
		ids := map[int]string{}
		var placed []dashboards.Panel
		for _, p := range d.Panels {
			if p.ID <= 0 {
				t.Errorf("%s: panel %q has id %d, want > 0", d.UID, p.Title, p.ID)
			}
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("%s: panel id %d used by %q and %q", d.UID, p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > gridColumns {
				t.Errorf("%s: panel %d %q: gridPos %+v is off the %d-column grid", d.UID, p.ID, p.Title, g, gridColumns)
			}
			for _, q := range placed {
				if overlap(g, q.GridPos) {
					t.Errorf("%s: panels %d %q and %d %q overlap", d.UID, p.ID, p.Title, q.ID, q.Title)
				}
			}
			placed = append(placed, p)
		}
	}
}

func overlap(a, b dashboards.GridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// TestPanelsDocumented requires every data panel to say what it shows, in
// which unit, and where "bad" starts.
func TestPanelsDocumented(t *testing.T) {
	for _, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			if strings.TrimSpace(p.Title) == "" || strings.TrimSpace(p.Description) == "" {
				t.Errorf("%s: panel %d (%s): needs a title and a description", d.UID, p.ID, p.Type)
			}
			if len(p.Targets) == 0 {
				continue // alert list, text: no field config
			}
			if p.Unit() == "" {
				t.Errorf("%s: panel %d %q: no unit", d.UID, p.ID, p.Title)
			}
			steps := p.Thresholds()
			if len(steps) == 0 || steps[0].Value != nil {
				t.Errorf("%s: panel %d %q: thresholds %v: want steps starting with a base step", d.UID, p.ID, p.Title, steps)
			}
			for i := 1; i < len(steps); i++ {
				if steps[i].Value == nil || (steps[i-1].Value != nil && *steps[i].Value <= *steps[i-1].Value) {
					t.Errorf("%s: panel %d %q: threshold steps must increase", d.UID, p.ID, p.Title)
				}
			}
		}
	}
}

// envs are the rendering contexts every query must survive: the default
// dashboard, a short zoom on a fast-scraping test Prometheus, and a week.
var envs = map[string]dashboards.Env{
	"default": dashboards.DefaultEnv(),
	"e2e":     {Range: 5 * time.Minute, Interval: time.Second, ScrapeInterval: time.Second},
	"week":    {Range: 7 * 24 * time.Hour, Interval: 10 * time.Minute, ScrapeInterval: 15 * time.Second},
}

func TestQueriesParse(t *testing.T) {
	for _, d := range loadDashboards(t) {
		if len(d.Queries()) == 0 {
			t.Errorf("%s: no queries", d.UID)
		}
		for name, env := range envs {
			for _, q := range d.Queries() {
				expr, err := d.Render(q, env, nil)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if _, err := parser.ParseExpr(expr); err != nil {
					t.Errorf("%s: %s: %q does not parse: %v", name, q, expr, err)
				}
			}
		}
	}
}

func TestVariables(t *testing.T) {
	for _, d := range loadDashboards(t) {
		vars := d.Vars()
		for _, v := range d.Variables {
			if v.Type != "query" {
				continue
			}
			if v.Datasource == nil || v.Datasource.UID != "prometheus" {
				t.Errorf("%s: variable %q: datasource %v, want uid prometheus", d.UID, v.Name, v.Datasource)
			}
			expr, ok := v.PromQL()
			if !ok {
				t.Errorf("%s: variable %q: query %q names no series selector", d.UID, v.Name, v.Query)
				continue
			}
			// The metrics it names are checked by internal/crossref.
			expr, err := dashboards.Substitute(expr, vars)
			if err != nil {
				t.Errorf("%s: variable %q: %v", d.UID, v.Name, err)
				continue
			}
			if _, err := parser.ParseExpr(expr); err != nil {
				t.Errorf("%s: variable %q: %q does not parse: %v", d.UID, v.Name, expr, err)
			}
		}
		if d.UID != serviceUID {
			continue
		}
		for name, want := range map[string]string{"job": serviceJob, "instance": ".+"} {
			if got, ok := vars[name]; !ok || got != want {
				t.Errorf("%s: variable %q defaults to %q (defined %v), want %q", d.UID, name, got, ok, want)
			}
		}
	}
}

// sentinels stand for Grafana's range variables while the query is linted,
// so that windows written as variables can be told from literal ones.
var sentinels = map[string]time.Duration{
	"__rate_interval": 1111 * time.Second,
	"__range":         2222 * time.Second,
	"__interval":      3333 * time.Second,
}

// lint checks one query as written in a dashboard and returns its problems:
//
//   - every range (matrix selector, subquery) is a Grafana variable, never a
//     literal like [5m] that breaks when the scrape interval or zoom changes;
//   - rate/irate use $__rate_interval;
//   - counters and histogram series are only read through rate/irate/increase;
//   - every rate/irate/increase is aggregated by an enclosing sum;
//   - histogram_quantile reads a sum that keeps le;
//   - inventory_level, which every replica exports identically, is never
//     summed across replicas.
func lint(expr string) []string {
	vars := map[string]string{}
	byDur := map[time.Duration]string{}
	for name, d := range sentinels {
		vars[name] = fmt.Sprintf("%ds", int(d/time.Second))
		byDur[d] = "$" + name
	}
	for _, v := range []string{"job", "instance"} {
		vars[v] = ".+"
	}
	rendered, err := dashboards.Substitute(expr, vars)
	if err != nil {
		return []string{err.Error()}
	}
	node, err := parser.ParseExpr(rendered)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	parser.Inspect(node, func(n parser.Node, path []parser.Node) error {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			if _, ok := byDur[n.Range]; !ok {
				report("literal range [%s] in %s: use $__rate_interval, $__interval or $__range", n.Range, n)
			}
		case *parser.SubqueryExpr:
			if _, ok := byDur[n.Range]; !ok {
				report("literal subquery range in %s", n)
			}
		case *parser.Call:
			switch n.Func.Name {
			case "rate", "irate":
				if ms, ok := n.Args[0].(*parser.MatrixSelector); ok && byDur[ms.Range] != "$__rate_interval" {
					report("%s: rate and irate take $__rate_interval", n)
				}
				fallthrough
			case "increase":
				if !hasSumAncestor(path) {
					report("%s is not aggregated with sum by (…)", n)
				}
			case "histogram_quantile":
				agg, ok := promrefs.Unparen(n.Args[1]).(*parser.AggregateExpr)
				if !ok || agg.Op != parser.SUM || agg.Without || !slices.Contains(agg.Grouping, "le") {
					report("histogram_quantile over %s: want sum by (…, le) (rate(…))", n.Args[1])
				}
			}
		case *parser.VectorSelector:
			name := n.Name
			counter := strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_bucket") ||
				strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")
			if counter && !insideCall(path, "rate", "irate", "increase") {
				report("counter %s read raw: wrap it in rate() or increase()", name)
			}
			if name == "inventory_level" {
				for _, a := range path {
					if agg, ok := a.(*parser.AggregateExpr); ok && agg.Op == parser.SUM {
						report("inventory_level summed across replicas: use max by (product_id)")
					}
				}
			}
		}
		return nil
	})
	return problems
}

func hasSumAncestor(path []parser.Node) bool {
	for _, a := range path {
		if agg, ok := a.(*parser.AggregateExpr); ok && agg.Op == parser.SUM {
			return true
		}
	}
	return false
}

func insideCall(path []parser.Node, names ...string) bool {
	for _, a := range path {
		if c, ok := a.(*parser.Call); ok && slices.Contains(names, c.Func.Name) {
			return true
		}
	}
	return false
}

// TestLint proves lint catches each kind of mistake it claims to.
func TestLint(t *testing.T) {
	tests := []struct {
		name, expr string
		want       string // substring of a problem; "" means clean
	}{
		{"rate ok", `sum by (job) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))`, ""},
		{"increase over range ok", `sum by (endpoint) (increase(http_requests_total[$__range]))`, ""},
		{"increase over interval ok", `sum by (endpoint) (increase(http_requests_total[$__interval]))`, ""},
		{"quantile ok", `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[$__rate_interval])))`, ""},
		{"gauge max ok", `max by (product_id) (inventory_level{instance=~"$instance"})`, ""},
		{"literal window", `sum(rate(http_requests_total[5m]))`, "literal range"},
		{"literal increase", `sum(increase(http_requests_total[1h]))`, "literal range"},
		{"rate over range", `sum(rate(http_requests_total[$__range]))`, "take $__rate_interval"},
		{"literal subquery", `max_over_time(sum(rate(http_requests_total[$__rate_interval]))[1h:1m])`, "literal subquery"},
		{"unaggregated rate", `rate(http_requests_total[$__rate_interval])`, "not aggregated"},
		{"max of rate", `max by (job) (rate(http_requests_total[$__rate_interval]))`, "not aggregated"},
		{"quantile without le", `histogram_quantile(0.9, sum by (job) (rate(http_request_duration_seconds_bucket[$__rate_interval])))`, "want sum by"},
		{"quantile unaggregated", `histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[$__rate_interval]))`, "want sum by"},
		{"raw counter", `sum by (job) (http_requests_total)`, "read raw"},
		{"summed gauge", `sum by (product_id) (inventory_level)`, "summed across replicas"},
		{"unknown variable", `sum(rate(x_total[$__rate_intreval]))`, "undefined variables"},
		{"syntax error", `sum(rate(x_total[$__rate_interval])`, "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := lint(tt.expr)
			if tt.want == "" {
				if len(problems) > 0 {
					t.Fatalf("lint(%q) = %q, want no problems", tt.expr, problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Fatalf("lint(%q) = %q, want a problem containing %q", tt.expr, problems, tt.want)
			}
		})
	}
}

func TestQueriesLint(t *testing.T) {
	for _, d := range loadDashboards(t) {
		for _, q := range d.Queries() {
			for _, p := range lint(q.Expr) {
				t.Errorf("%s: %s", q, p)
			}
		}
	}
}

func loadDatasources(t *testing.T) map[string]dashboards.Datasource {
	t.Helper()
	list, err := dashboards.LoadDatasources(datasourceDir)
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[string]dashboards.Datasource{}
	for _, ds := range list {
		if _, dup := byUID[ds.UID]; dup {
			t.Errorf("datasource uid %q provisioned twice", ds.UID)
		}
		byUID[ds.UID] = ds
	}
	return byUID
}

func TestDatasourceProvisioning(t *testing.T) {
	byUID := loadDatasources(t)
	tests := []struct {
		uid, typ, url, name string
		jsonData            map[string]any
	}{
		{"prometheus", "prometheus", "http://prometheus:9090", "Prometheus", map[string]any{"alertmanagerUid": "alertmanager"}},
		{"alertmanager", "alertmanager", "http://alertmanager:9093", "Alertmanager", map[string]any{"implementation": "prometheus"}},
		{"jaeger", "jaeger", "http://jaeger:16686", "Jaeger", nil},
	}
	for _, tt := range tests {
		ds, ok := byUID[tt.uid]
		if !ok {
			t.Errorf("no datasource with uid %q", tt.uid)
			continue
		}
		if ds.Type != tt.typ || ds.URL != tt.url || ds.Name != tt.name || ds.Access != "proxy" {
			t.Errorf("datasource %q = {name %q type %q url %q access %q}, want {%q %q %q proxy}",
				tt.uid, ds.Name, ds.Type, ds.URL, ds.Access, tt.name, tt.typ, tt.url)
		}
		for k, want := range tt.jsonData {
			if got := ds.JSONData[k]; got != want {
				t.Errorf("datasource %q: jsonData.%s = %v, want %v", tt.uid, k, got, want)
			}
		}
	}
	if ti, _ := byUID["prometheus"].JSONData["timeInterval"].(string); ti == "" {
		t.Error("prometheus datasource: jsonData.timeInterval (the scrape interval, for $__rate_interval) is not set")
	}
	defaults := 0
	for _, ds := range byUID {
		if ds.IsDefault {
			defaults++
			if ds.UID != "prometheus" {
				t.Errorf("default datasource is %q, want prometheus", ds.UID)
			}
		}
	}
	if defaults != 1 {
		t.Errorf("%d default datasources, want 1", defaults)
	}
}

// exemplarLabel is the exemplar label that carries the trace id on the
// service's metrics (SPEC §4).
const exemplarLabel = "trace_id"

// TestExemplarTraceDestination checks that the Prometheus datasource turns
// the service's trace_id exemplars into links to a provisioned Jaeger
// datasource, and that the check fails for destinations that would link
// nowhere.
func TestExemplarTraceDestination(t *testing.T) {
	byUID := loadDatasources(t)
	if err := checkExemplarDestinations(byUID["prometheus"], byUID); err != nil {
		t.Error(err)
	}
	broken := map[string]map[string]any{
		"no destinations":        {},
		"another exemplar label": {"exemplarTraceIdDestinations": []any{map[string]any{"name": "traceID", "datasourceUid": "jaeger"}}},
		"unknown datasource":     {"exemplarTraceIdDestinations": []any{map[string]any{"name": exemplarLabel, "datasourceUid": "tempo"}}},
		"not a trace datasource": {"exemplarTraceIdDestinations": []any{map[string]any{"name": exemplarLabel, "datasourceUid": "alertmanager"}}},
	}
	for name, jsonData := range broken {
		ds := byUID["prometheus"]
		ds.JSONData = jsonData
		if err := checkExemplarDestinations(ds, byUID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// checkExemplarDestinations fails unless ds sends exemplars labelled
// exemplarLabel to a provisioned jaeger datasource.
func checkExemplarDestinations(ds dashboards.Datasource, byUID map[string]dashboards.Datasource) error {
	list, _ := ds.JSONData["exemplarTraceIdDestinations"].([]any)
	for _, item := range list {
		d, _ := item.(map[string]any)
		uid, _ := d["datasourceUid"].(string)
		if d["name"] == exemplarLabel && byUID[uid].Type == "jaeger" {
			return nil
		}
	}
	return fmt.Errorf("datasource %s: exemplarTraceIdDestinations %v: want {name: %s, datasourceUid: <a jaeger datasource>}", ds.UID, list, exemplarLabel)
}

func TestDashboardProvider(t *testing.T) {
	providers, err := dashboards.LoadProviders(providerDir)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(providers, func(p dashboards.Provider) bool { return p.Options.Path == containerDashs })
	if i < 0 {
		t.Fatalf("no dashboard provider reads %s (where docker-compose.yaml mounts grafana/dashboards): %+v", containerDashs, providers)
	}
	if p := providers[i]; p.Type != "file" || p.Name == "" || p.AllowUIUpdates {
		t.Errorf("provider %+v: want a named file provider that keeps the files authoritative", p)
	}
}

// builtinDatasources are the uids Grafana defines itself.
var builtinDatasources = []string{"-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --"}

func TestDatasourceReferences(t *testing.T) {
	byUID := loadDatasources(t)
	byName := map[string]dashboards.Datasource{}
	for _, ds := range byUID {
		byName[ds.Name] = ds
	}
	for _, d := range loadDashboards(t) {
		for _, ref := range d.DatasourceRefs() {
			if slices.Contains(builtinDatasources, ref.UID) {
				continue
			}
			ds, ok := byUID[ref.UID]
			if ref.UID == "" {
				ds, ok = byName[ref.Name]
			}
			if !ok {
				t.Errorf("%s: datasource %+v is not provisioned in %s", d.UID, ref, datasourceDir)
				continue
			}
			if ref.Type != "" && ref.Type != ds.Type {
				t.Errorf("%s: datasource %q referenced as type %q, provisioned as %q", d.UID, ref.UID, ref.Type, ds.Type)
			}
		}
		for _, q := range d.Queries() {
			if byUID[q.Datasource.UID].Type != "prometheus" {
				t.Errorf("%s: PromQL query against datasource %+v, want a provisioned prometheus datasource", q, q.Datasource)
			}
		}
		for _, p := range d.Panels {
			if p.Type != "alertlist" {
				continue
			}
			name, _ := p.Options["datasource"].(string)
			if ds, ok := byName[name]; !ok || ds.Type != "prometheus" {
				t.Errorf("%s: alert list panel %d reads rules from datasource %q, want the name of a provisioned prometheus datasource", d.UID, p.ID, name)
			}
		}
	}
}

// TestServiceDashboardContent pins what SPEC §8 and the dashboard's users
// expect to find on the service dashboard.
func TestServiceDashboardContent(t *testing.T) {
	var service dashboards.Dashboard
	for _, d := range loadDashboards(t) {
		if d.UID == serviceUID {
			service = d
		}
	}
	if service.UID == "" {
		t.Fatalf("no dashboard %q", serviceUID)
	}
	type panelQueries struct {
		panel dashboards.Panel
		exprs []string
	}
	var all []panelQueries
	for _, p := range service.Panels {
		pq := panelQueries{panel: p}
		for _, tg := range p.Targets {
			pq.exprs = append(pq.exprs, strings.Join(strings.Fields(tg.Expr), " "))
		}
		all = append(all, pq)
	}
	tests := []struct {
		what      string
		panelType string // "" for any
		pattern   string // matched against one query of the panel, whitespace collapsed
	}{
		{"request rate", "", `^sum by \(job\) \(rate\(http_requests_total\{[^}]*\}\[\$__rate_interval\]\)\)$`},
		{"4xx ratio", "", `^sum by \(job\) \(rate\(http_requests_total\{[^}]*status_code=~"4\.\."\}.*\) / sum by \(job\) \(rate\(http_requests_total\{[^}]*\}`},
		{"5xx ratio", "", `^sum by \(job\) \(rate\(http_requests_total\{[^}]*status_code=~"5\.\."\}.*\) / sum by \(job\) \(rate\(http_requests_total\{[^}]*\}`},
		{"p50", "timeseries", `^histogram_quantile\(0\.5, sum by \(le\) \(rate\(http_request_duration_seconds_bucket`},
		{"p90", "timeseries", `^histogram_quantile\(0\.9, sum by \(le\) \(rate\(http_request_duration_seconds_bucket`},
		{"p99", "timeseries", `^histogram_quantile\(0\.99, sum by \(le\) \(rate\(http_request_duration_seconds_bucket`},
		{"in-flight", "", `http_requests_in_flight`},
		{"per-endpoint table", "table", `sum by \([^)]*endpoint[^)]*\) \(rate\(http_requests_total`},
		{"per-endpoint p99", "table", `histogram_quantile\(0\.99, sum by \([^)]*endpoint[^)]*le\)`},
		{"firing alerts", "alertlist", ``},
		{"panics", "", `panics_recovered_total`},
		{"orders/min by type", "", `^sum by \(type\) \(rate\(orders_created_total.*\* 60$`},
		{"revenue/min", "", `^sum by \(type\) \(rate\(order_revenue_total.*\* 60$`},
		// Bounded: the catalog holds up to 100k products (SPEC §3.2).
		{"inventory by product", "", `^(bottomk|topk)\(\d+, max by \(product_id\) \(inventory_level`},
		{"products out of stock", "", `^count\(max by \(product_id\) \(inventory_level\{[^}]*\}\) == 0\)`},
		{"rejections by reason", "", `^sum by \(reason\) \(rate\(orders_rejected_total`},
		{"requests/min by endpoint", "timeseries", `^sum by \(endpoint\) \(rate\(http_requests_total.*\* 60$`},
		{"responses/min by status code", "timeseries", `^sum by \(status_code\) \(rate\(http_requests_total.*\* 60$`},
		{"total requests over the range", "", `increase\(http_requests_total\{[^}]*\}\[\$__range\]\)`},
		{"hourly increase by endpoint", "timeseries", `^sum by \(endpoint\) \(increase\(http_requests_total\{[^}]*\}\[\$__interval\]\)\)$`},
		{"average processing time", "", `^sum by \(endpoint\) \(rate\(http_request_duration_seconds_sum.*\) / \(?sum by \(endpoint\) \(rate\(http_request_duration_seconds_count`},
		{"db p99 by operation/table", "", `^histogram_quantile\(0\.99, sum by \(operation, table, le\) \(rate\(db_query_duration_seconds_bucket`},
		{"db_up by instance", "", `^max by \(instance\) \(db_up\{`},
		{"pool in use / idle", "", `^sum by \(pool, state\) \(db_pool_connections\{`},
		{"postgres up", "", `^max by \(instance\) \(pg_up\{job="postgres"`},
		{"postgres connections", "", `^sum by \(datname\) \(pg_stat_database_numbackends\{`},
		{"postgres transactions/s", "", `^sum by \(datname\) \(rate\(pg_stat_database_xact_commit\{[^}]*\}\[\$__rate_interval\]\)\)$`},
		{"postgres deadlocks", "", `^sum by \(datname\) \(rate\(pg_stat_database_deadlocks\{[^}]*\}\[\$__rate_interval\]\)\)`},
		{"heartbeat age", "stat", `^time\(\) - \(max\(alert_heartbeat_last_received_timestamp_seconds\{[^}]*\}\) > 0\)$`},
		{"heartbeat state", "stat", `alert_heartbeat_last_received_timestamp_seconds.* or .* or `},
	}
	for _, tt := range tests {
		re := regexp.MustCompile(tt.pattern)
		found := slices.ContainsFunc(all, func(pq panelQueries) bool {
			if tt.panelType != "" && pq.panel.Type != tt.panelType {
				return false
			}
			if tt.pattern == "" {
				return true
			}
			return slices.ContainsFunc(pq.exprs, re.MatchString)
		})
		if !found {
			t.Errorf("%s: no panel (type %q) with a query matching %s", tt.what, tt.panelType, tt.pattern)
		}
	}
	// The ratios are separate series: no single query mixes 4xx and 5xx.
	for _, pq := range all {
		for _, e := range pq.exprs {
			if strings.Contains(e, `"4..`) && strings.Contains(e, `"5..`) || strings.Contains(e, `"[45]..`) {
				t.Errorf("panel %q: query %q mixes 4xx and 5xx", pq.panel.Title, e)
			}
		}
	}
	// The hourly panel is hourly only if its minimum interval is an hour.
	for _, p := range service.Panels {
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, "[$__interval]") && strings.TrimPrefix(p.Interval, ">") != "1h" {
				t.Errorf("panel %q uses $__interval with minimum interval %q, want 1h", p.Title, p.Interval)
			}
		}
	}
	// Every panel query of the service dashboard selects the chosen job and
	// instance, except Prometheus' own ALERTS (alerts such as Watchdog carry
	// no job label) and postgres_exporter's series, which belong to the
	// database, not to a replica: those select the exporter's job.
	for _, q := range service.Queries() {
		if strings.Contains(q.Expr, "ALERTS") {
			continue
		}
		if fromPostgresExporter(t, q.Expr) {
			if !strings.Contains(q.Expr, `job="postgres"`) {
				t.Errorf("%s: %q reads postgres_exporter's series without selecting its job postgres", q, q.Expr)
			}
			continue
		}
		if !strings.Contains(q.Expr, `job=~"$job"`) || !strings.Contains(q.Expr, `instance=~"$instance"`) {
			t.Errorf("%s: %q does not filter on $job and $instance", q, q.Expr)
		}
	}
}

// metricNames returns the metrics a dashboard query names, its variables
// substituted by placeholders.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	vars := map[string]string{"job": ".+", "instance": ".+"}
	for name := range sentinels {
		vars[name] = "1m"
	}
	rendered, err := dashboards.Substitute(expr, vars)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	names, err := promrefs.MetricNames(rendered)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	return names
}

// fromPostgresExporter reports whether every metric expr names is one of
// postgres_exporter's (crossref.External).
func fromPostgresExporter(t *testing.T, expr string) bool {
	t.Helper()
	names := metricNames(t, expr)
	external := crossref.External()
	return len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return external[n] != crossref.PostgresExporter })
}

func serviceDashboard(t *testing.T) dashboards.Dashboard {
	t.Helper()
	for _, d := range loadDashboards(t) {
		if d.UID == serviceUID {
			return d
		}
	}
	t.Fatalf("no dashboard %q", serviceUID)
	return dashboards.Dashboard{}
}

// rowOf returns, for each panel id, the title of the row the panel sits
// under on the grid (the last row above it), "" above the first row.
func rowOf(d dashboards.Dashboard) map[int]string {
	var rows []dashboards.Panel
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows = append(rows, p)
		}
	}
	out := map[int]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		best := -1
		for i, r := range rows {
			if r.GridPos.Y < p.GridPos.Y && (best < 0 || r.GridPos.Y > rows[best].GridPos.Y) {
				best = i
			}
		}
		if best >= 0 {
			out[p.ID] = rows[best].Title
		}
	}
	return out
}

// TestDatabaseRow requires a "Database" row holding every panel that reads
// the store's metrics (db_*) or postgres_exporter's (pg_*), and nothing
// else.
func TestDatabaseRow(t *testing.T) {
	d := serviceDashboard(t)
	rows := rowOf(d)
	var inRow int
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		isDB := false
		for _, tg := range p.Targets {
			for _, n := range metricNames(t, tg.Expr) {
				isDB = isDB || strings.HasPrefix(n, "db_") || strings.HasPrefix(n, "pg_")
			}
		}
		switch {
		case isDB && rows[p.ID] != "Database":
			t.Errorf("panel %d %q reads database metrics but sits in row %q, want Database", p.ID, p.Title, rows[p.ID])
		case !isDB && rows[p.ID] == "Database":
			t.Errorf("panel %d %q sits in the Database row but reads no database metric", p.ID, p.Title)
		case isDB:
			inRow++
		}
	}
	// db_up, query p99, pool, pg_up, connections, transactions, deadlocks.
	if inRow < 7 {
		t.Errorf("the Database row holds %d database panels, want at least 7", inRow)
	}
}

// TestHeartbeatPanels checks the heartbeat panels of the overview row: the
// age is a duration whose red threshold is HEARTBEAT_TIMEOUT's default, the
// state compares with the same timeout and maps its three values to words.
func TestHeartbeatPanels(t *testing.T) {
	d := serviceDashboard(t)
	rows := rowOf(d)
	timeout := config.DefaultHeartbeatTimeout.Seconds()
	byTitle := map[string]dashboards.Panel{}
	for _, p := range d.Panels {
		byTitle[p.Title] = p
	}
	age, ok := byTitle["Heartbeat age"]
	if !ok {
		t.Fatal(`no panel "Heartbeat age"`)
	}
	if age.Unit() != "dtdurations" && age.Unit() != "s" {
		t.Errorf("Heartbeat age: unit %q, want a duration", age.Unit())
	}
	steps := age.Thresholds()
	if len(steps) == 0 || steps[len(steps)-1].Value == nil || *steps[len(steps)-1].Value != timeout {
		t.Errorf("Heartbeat age: thresholds %v, want the last (red) step at HEARTBEAT_TIMEOUT's default %vs", steps, timeout)
	}
	state, ok := byTitle["Heartbeat state"]
	if !ok {
		t.Fatal(`no panel "Heartbeat state"`)
	}
	if len(state.Targets) != 1 || !strings.Contains(state.Targets[0].Expr, fmt.Sprintf("< %d ", int(timeout))) {
		t.Errorf("Heartbeat state: query %v does not compare the age with HEARTBEAT_TIMEOUT's default %vs", state.Targets, timeout)
	}
	texts := map[string]string{}
	for _, m := range rawPanel(t, d, state.ID)["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["mappings"].([]any) {
		opts, _ := m.(map[string]any)["options"].(map[string]any)
		for v, o := range opts {
			texts[v], _ = o.(map[string]any)["text"].(string)
		}
	}
	if want := map[string]string{"0": "never", "1": "ok", "2": "silent"}; !maps.Equal(texts, want) {
		t.Errorf("Heartbeat state: value mappings %v, want %v", texts, want)
	}
	for _, p := range []dashboards.Panel{age, state} {
		if rows[p.ID] != "Overview" {
			t.Errorf("panel %q sits in row %q, want Overview", p.Title, rows[p.ID])
		}
	}
}

// rawPanel returns the JSON object of a panel, for fields the dashboards
// package does not model.
func rawPanel(t *testing.T, d dashboards.Dashboard, id int) map[string]any {
	t.Helper()
	var walk func(list []any) map[string]any
	walk = func(list []any) map[string]any {
		for _, item := range list {
			p, _ := item.(map[string]any)
			if n, _ := p["id"].(float64); int(n) == id {
				return p
			}
			if children, ok := p["panels"].([]any); ok {
				if found := walk(children); found != nil {
					return found
				}
			}
		}
		return nil
	}
	list, _ := d.Raw["panels"].([]any)
	p := walk(list)
	if p == nil {
		t.Fatalf("%s: no panel %d in the raw JSON", d.UID, id)
	}
	return p
}

// TestLatencyExemplars requires exemplars on every time-series query of
// the request latency histogram, which carries trace_id exemplars (SPEC §4):
// Grafana draws them as dots that open the trace in Jaeger.
func TestLatencyExemplars(t *testing.T) {
	d := serviceDashboard(t)
	n := 0
	for _, p := range d.Panels {
		if p.Type != "timeseries" {
			continue
		}
		targets, _ := rawPanel(t, d, p.ID)["targets"].([]any)
		for _, item := range targets {
			tg, _ := item.(map[string]any)
			expr, _ := tg["expr"].(string)
			if !slices.Contains(metricNames(t, expr), "http_request_duration_seconds_bucket") {
				continue
			}
			n++
			if tg["exemplar"] != true {
				t.Errorf("panel %d %q query %v: exemplar is %v, want true", p.ID, p.Title, tg["refId"], tg["exemplar"])
			}
		}
	}
	if n == 0 {
		t.Error("no time-series query reads http_request_duration_seconds_bucket")
	}
}
