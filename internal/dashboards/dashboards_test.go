package dashboards

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixture is a small dashboard in Grafana's JSON model exercising every
// shape the loader must handle: object and legacy string datasources,
// target datasources overriding the panel's, a collapsed row with nested
// panels, a panel minimum interval, and string/object variable queries with
// single, multi and All values.
const fixture = `{
  "uid": "fx", "title": "Fixture", "schemaVersion": 41,
  "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}}]},
  "templating": {"list": [
    {"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "prom"},
     "query": {"query": "label_values(up{env=\"a,b\"}, job)", "refId": "X"},
     "current": {"text": "svc", "value": "svc"}},
    {"name": "instance", "type": "query", "datasource": "Legacy",
     "query": "label_values(app_build_info{job=~\"$job\"}, instance)",
     "includeAll": true, "allValue": ".+", "multi": true,
     "current": {"text": ["All"], "value": ["$__all"]}},
    {"name": "code", "type": "custom", "multi": true, "query": "200,500",
     "current": {"value": ["2.0", "500"]}},
    {"name": "env", "type": "constant", "query": "prod"}
  ]},
  "panels": [
    {"id": 1, "type": "timeseries", "title": "Rate", "interval": "1h",
     "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
     "datasource": {"type": "prometheus", "uid": "prom"},
     "fieldConfig": {"defaults": {"unit": "reqps", "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "red", "value": 5}]}}},
     "targets": [
       {"refId": "A", "expr": "sum(rate(x_total[$__rate_interval]))"},
       {"refId": "B", "expr": "up", "instant": true, "datasource": {"type": "prometheus", "uid": "other"}},
       {"refId": "C", "expr": "  "}
     ]},
    {"id": 2, "type": "row", "title": "Collapsed", "collapsed": true, "panels": [
       {"id": 3, "type": "stat", "title": "Nested", "datasource": {"uid": "prom"},
        "targets": [{"refId": "A", "expr": "sum(increase(y_total[$__range]))"}]}
    ]},
    {"id": 4, "type": "alertlist", "title": "Alerts", "options": {"datasource": "Prometheus"}}
  ]
}`

func TestParse(t *testing.T) {
	d, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != "fx" || d.Title != "Fixture" || d.SchemaVersion != 41 {
		t.Errorf("header = %q %q %d", d.UID, d.Title, d.SchemaVersion)
	}
	var ids []int
	for _, p := range d.Panels {
		ids = append(ids, p.ID)
	}
	if want := []int{1, 2, 3, 4}; !reflect.DeepEqual(ids, want) {
		t.Errorf("panel ids = %v, want %v (nested panels flattened after their row)", ids, want)
	}
	p := d.Panels[0]
	if p.Unit() != "reqps" || len(p.Thresholds()) != 2 || p.Thresholds()[0].Value != nil || *p.Thresholds()[1].Value != 5 {
		t.Errorf("panel 1 unit %q thresholds %+v", p.Unit(), p.Thresholds())
	}
	if p.GridPos != (GridPos{X: 0, Y: 0, W: 12, H: 8}) {
		t.Errorf("panel 1 gridPos = %+v", p.GridPos)
	}

	wantVars := []Variable{
		{Name: "job", Type: "query", Query: `label_values(up{env="a,b"}, job)`,
			Datasource: &DatasourceRef{Type: "prometheus", UID: "prom"}, Current: []string{"svc"}},
		{Name: "instance", Type: "query", Query: `label_values(app_build_info{job=~"$job"}, instance)`,
			Datasource: &DatasourceRef{Name: "Legacy"}, Current: []string{"$__all"},
			IncludeAll: true, AllValue: ".+", Multi: true},
		{Name: "code", Type: "custom", Query: "200,500", Current: []string{"2.0", "500"}, Multi: true},
		{Name: "env", Type: "constant", Query: "prod"},
	}
	if !reflect.DeepEqual(d.Variables, wantVars) {
		t.Errorf("variables =\n%+v\nwant\n%+v", d.Variables, wantVars)
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]string{
		"not json":      `{"uid": `,
		"trailing data": `{"uid": "a", "title": "A"} {}`,
		"api envelope":  `{"dashboard": {"uid": "a", "title": "A"}, "overwrite": true}`,
		"bad panels":    `{"uid": "a", "panels": {"id": 1}}`,
		"bad variable":  `{"uid": "a", "templating": {"list": [{"name": "v", "query": 3}]}}`,
	}
	for name, doc := range tests {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse(%s) succeeded, want an error", name, doc)
		}
	}
}

func TestQueries(t *testing.T) {
	d, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	want := []Query{
		{Dashboard: "fx", PanelID: 1, Title: "Rate", RefID: "A", Expr: "sum(rate(x_total[$__rate_interval]))",
			Datasource: DatasourceRef{Type: "prometheus", UID: "prom"}, Interval: "1h"},
		{Dashboard: "fx", PanelID: 1, Title: "Rate", RefID: "B", Expr: "up", Instant: true,
			Datasource: DatasourceRef{Type: "prometheus", UID: "other"}, Interval: "1h"},
		{Dashboard: "fx", PanelID: 3, Title: "Nested", RefID: "A", Expr: "sum(increase(y_total[$__range]))",
			Datasource: DatasourceRef{UID: "prom"}},
	}
	if got := d.Queries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Queries() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDatasourceRefs(t *testing.T) {
	d, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	want := []DatasourceRef{
		{Name: "Legacy"},
		{Name: "Prometheus"},
		{Type: "grafana", UID: "-- Grafana --"},
		{Type: "prometheus", UID: "other"},
		{UID: "prom"},
		{Type: "prometheus", UID: "prom"},
	}
	if got := d.DatasourceRefs(); !reflect.DeepEqual(got, want) {
		t.Errorf("DatasourceRefs() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestVariablePromQL(t *testing.T) {
	tests := []struct {
		query  string
		want   string
		wantOK bool
	}{
		{`label_values(up, job)`, `up`, true},
		{`label_values(app_build_info{job=~"$job"}, instance)`, `app_build_info{job=~"$job"}`, true},
		{`label_values(up{env="a,b", x=~"(c|d),"}, job)`, `up{env="a,b", x=~"(c|d),"}`, true},
		{` query_result(sum by (job) (up)) `, `sum by (job) (up)`, true},
		{`label_values(job)`, ``, false},
		{`label_names()`, ``, false},
		{`metrics(http_.*)`, ``, false},
		{`200,500`, ``, false},
	}
	for _, tt := range tests {
		got, ok := Variable{Query: tt.query}.PromQL()
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("PromQL(%q) = %q, %v; want %q, %v", tt.query, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"job": "svc", "instance": ".+", "__rate_interval": "1m", "__range": "1h", "__range_s": "3600"}
	tests := []struct {
		expr, want, wantErr string
	}{
		{`rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~"svc"}[1m])`, ""},
		{`x{job="${job}", i=~"${instance:regex}"}`, `x{job="svc", i=~".+"}`, ""},
		{`x{job="[[job]]"}[$__range] / $__range_s`, `x{job="svc"}[1h] / 3600`, ""},
		{`label_replace(x, "a", "$1", "b", "(.*)")`, `label_replace(x, "a", "$1", "b", "(.*)")`, ""},
		{`x{a=~"^foo$"}`, `x{a=~"^foo$"}`, ""},
		{`rate(x[$__rate_intreval]) + $nope`, "", "undefined variables $__rate_intreval, $nope"},
	}
	for _, tt := range tests {
		got, err := Substitute(tt.expr, vars)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Substitute(%q) error = %v, want %q", tt.expr, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", tt.expr, got, err, tt.want)
		}
	}
}

func TestBuiltins(t *testing.T) {
	tests := []struct {
		name          string
		env           Env
		panelInterval string
		want          map[string]string
		wantErr       bool
	}{
		{"defaults", DefaultEnv(), "", map[string]string{
			"__interval": "15s", "__interval_ms": "15000", "__rate_interval": "1m", "__rate_interval_ms": "60000",
			"__range": "1h", "__range_s": "3600", "__range_ms": "3600000"}, false},
		{"interval dominates", Env{Range: 24 * time.Hour, Interval: 2 * time.Minute, ScrapeInterval: 15 * time.Second}, "", map[string]string{
			"__interval": "2m", "__rate_interval": "2m15s", "__range": "1d"}, false},
		{"panel minimum", DefaultEnv(), ">1h", map[string]string{
			"__interval": "1h", "__rate_interval": "1h15s"}, false},
		{"panel minimum below step", Env{Range: time.Hour, Interval: time.Minute, ScrapeInterval: time.Second}, "10s", map[string]string{
			"__interval": "1m", "__rate_interval": "1m1s"}, false},
		{"bad panel interval", DefaultEnv(), "$iv", nil, true},
		{"zero scrape interval", Env{Range: time.Hour, Interval: time.Second}, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.env.Builtins(tt.panelInterval)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Builtins error = %v, wantErr %v", err, tt.wantErr)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestVarsAndRender(t *testing.T) {
	d, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"job": "svc", "instance": ".+", "code": `(2\.0|500)`, "env": "prod"}
	if got := d.Vars(); !reflect.DeepEqual(got, want) {
		t.Errorf("Vars() = %v, want %v", got, want)
	}
	q := d.Queries()[0] // panel 1 has a 1h minimum interval
	got, err := d.Render(Query{Expr: q.Expr + ` + on() count(up{job=~"$job", e="$env"})`, Interval: q.Interval}, DefaultEnv(), map[string]string{"job": "override"})
	if err != nil {
		t.Fatal(err)
	}
	if wantExpr := `sum(rate(x_total[1h15s])) + on() count(up{job=~"override", e="prod"})`; got != wantExpr {
		t.Errorf("Render = %q, want %q", got, wantExpr)
	}
	if _, err := d.Render(Query{Expr: "$missing"}, DefaultEnv(), nil); err == nil {
		t.Error("Render accepted an undefined variable")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.json", fixture)
	write("a.json", `{"uid": "a", "title": "A", "schemaVersion": 41, "panels": []}`)
	write("notes.txt", "not a dashboard")
	ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].UID != "a" || ds[1].UID != "fx" || ds[1].File != filepath.Join(dir, "b.json") {
		t.Errorf("Load = %d dashboards %+v", len(ds), ds)
	}
	write("c.json", `{"uid": `)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "c.json") {
		t.Errorf("Load with a broken file: error %v, want one naming c.json", err)
	}
}

func TestLoadProvisioning(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		load    func(dir string) (int, error)
		want    int
		wantErr string
	}{
		{
			name: "datasources",
			files: map[string]string{"ds.yml": `apiVersion: 1
datasources:
  - {name: P, uid: prometheus, type: prometheus, access: proxy, url: "http://p:9090", isDefault: true, jsonData: {timeInterval: 15s}}
`, "more.yaml": `apiVersion: 1
datasources:
  - {name: A, uid: alertmanager, type: alertmanager, url: "http://a:9093"}
`},
			load: func(dir string) (int, error) { l, err := LoadDatasources(dir); return len(l), err },
			want: 2,
		},
		{
			name:    "datasource typo",
			files:   map[string]string{"ds.yml": "apiVersion: 1\ndatasources:\n  - {name: P, uid: p, type: prometheus, ulr: x}\n"},
			load:    func(dir string) (int, error) { l, err := LoadDatasources(dir); return len(l), err },
			wantErr: "ulr",
		},
		{
			name:    "wrong apiVersion",
			files:   map[string]string{"ds.yml": "apiVersion: 2\ndatasources: []\n"},
			load:    func(dir string) (int, error) { l, err := LoadDatasources(dir); return len(l), err },
			wantErr: "apiVersion",
		},
		{
			name:    "two documents",
			files:   map[string]string{"ds.yml": "apiVersion: 1\n---\napiVersion: 1\n"},
			load:    func(dir string) (int, error) { l, err := LoadDatasources(dir); return len(l), err },
			wantErr: "more than one",
		},
		{
			name:    "no files",
			files:   map[string]string{"README.md": "x"},
			load:    func(dir string) (int, error) { l, err := LoadProviders(dir); return len(l), err },
			wantErr: "no *.yml",
		},
		{
			name: "providers",
			files: map[string]string{"p.yml": `apiVersion: 1
providers:
  - name: x
    type: file
    options: {path: /var/lib/grafana/dashboards}
`},
			load: func(dir string) (int, error) {
				l, err := LoadProviders(dir)
				if err == nil && l[0].Options.Path != "/var/lib/grafana/dashboards" {
					t.Errorf("provider path = %q", l[0].Options.Path)
				}
				return len(l), err
			},
			want: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			n, err := tt.load(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Fatalf("loaded %d, %v; want %d", n, err, tt.want)
			}
		})
	}
}

func TestFindQuery(t *testing.T) {
	fx, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Parse([]byte(`{"uid": "o", "title": "Other", "panels": [
	  {"id": 7, "type": "stat", "title": "Nested", "targets": [{"refId": "A", "expr": "z"}]},
	  {"id": 8, "type": "stat", "title": "Only here", "targets": [{"refId": "B", "expr": "w"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ds := []Dashboard{fx, other}
	tests := []struct {
		title, refID string
		wantUID      string
		wantExpr     string // empty: an error is expected
	}{
		{"Rate", "B", "fx", "up"},
		{"Only here", "B", "o", "w"},
		{"Rate", "C", "", ""},    // blank expr: not a query
		{"Rate", "Z", "", ""},    // no such refId
		{"Missing", "A", "", ""}, // no such panel
		{"Nested", "A", "", ""},  // in both dashboards: ambiguous
		{"Alerts", "A", "", ""},  // a panel without targets
	}
	for _, tt := range tests {
		d, q, err := FindQuery(ds, tt.title, tt.refID)
		switch {
		case tt.wantExpr == "" && err == nil:
			t.Errorf("FindQuery(%q, %q) = %s, want an error", tt.title, tt.refID, q)
		case tt.wantExpr != "" && err != nil:
			t.Errorf("FindQuery(%q, %q): %v", tt.title, tt.refID, err)
		case tt.wantExpr != "" && (d.UID != tt.wantUID || q.Expr != tt.wantExpr):
			t.Errorf("FindQuery(%q, %q) = %s %q, want dashboard %s expr %q", tt.title, tt.refID, d.UID, q.Expr, tt.wantUID, tt.wantExpr)
		}
	}
}

func TestVariableQuery(t *testing.T) {
	d, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	q, ok := d.VariableQuery("instance")
	if !ok {
		t.Fatal("no query for $instance")
	}
	got, err := d.Render(q, DefaultEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `app_build_info{job=~"svc"}`; got != want {
		t.Errorf("rendered $instance query = %q, want %q", got, want)
	}
	for _, name := range []string{"code", "env", "nope"} {
		if q, ok := d.VariableQuery(name); ok {
			t.Errorf("VariableQuery(%q) = %q, want none", name, q.Expr)
		}
	}
}
