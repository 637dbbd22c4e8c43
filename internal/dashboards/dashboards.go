// Package dashboards loads the provisioned Grafana dashboards of this
// repository (grafana/dashboards/*.json) and lists every panel query with
// Grafana's variables substituted, so that tests can parse each query with
// the PromQL parser, check the metrics it names against the service's
// registry, and run it against a real Prometheus.
//
// The package models only the parts of the dashboard JSON model that such
// checks need (panels, targets, datasource references, template variables);
// everything else stays available in Dashboard.Raw.
package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DatasourceRef is a panel's, target's or variable's reference to a
// datasource. Grafana's current form is an object {"type", "uid"}; the
// legacy form, a bare string, names the datasource and is kept in Name.
type DatasourceRef struct {
	Type string `json:"type,omitempty"`
	UID  string `json:"uid,omitempty"`
	Name string `json:"-"`
}

// UnmarshalJSON accepts both the object and the legacy string form.
func (r *DatasourceRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = DatasourceRef{Name: s}
		return nil
	}
	var obj struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*r = DatasourceRef{Type: obj.Type, UID: obj.UID}
	return nil
}

// Target is one query of a panel.
type Target struct {
	RefID        string         `json:"refId"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
	Instant      bool           `json:"instant"`
	Range        bool           `json:"range"`
	Format       string         `json:"format"`
	Hide         bool           `json:"hide"`
	Datasource   *DatasourceRef `json:"datasource"`
}

// Threshold is one step of a panel's threshold scale; Value is nil for the
// base step.
type Threshold struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// GridPos is a panel's place on the dashboard's 24-column grid.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Panel is one panel of a dashboard. Rows are panels too (Type "row").
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Interval    string         `json:"interval"` // the panel's minimum interval ("1h"), empty if unset
	GridPos     GridPos        `json:"gridPos"`
	Datasource  *DatasourceRef `json:"datasource"`
	Targets     []Target       `json:"targets"`
	Options     map[string]any `json:"options"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds struct {
				Mode  string      `json:"mode"`
				Steps []Threshold `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
		Overrides []json.RawMessage `json:"overrides"`
	} `json:"fieldConfig"`
	// Panels holds the children of a collapsed row as written in the file.
	// Dashboard.Panels lists them flattened; this field is left as loaded.
	Panels []Panel `json:"panels"`
}

// Unit returns the panel's default unit.
func (p Panel) Unit() string { return p.FieldConfig.Defaults.Unit }

// Thresholds returns the panel's default threshold steps.
func (p Panel) Thresholds() []Threshold { return p.FieldConfig.Defaults.Thresholds.Steps }

// Variable is one template variable of a dashboard.
type Variable struct {
	Name       string
	Type       string // query, custom, constant, textbox, interval, datasource, adhoc
	Query      string // the query as text (the "query" field of the object form)
	Datasource *DatasourceRef
	Current    []string // current value(s) as saved; "$__all" stands for All
	IncludeAll bool
	AllValue   string
	Multi      bool
}

// UnmarshalJSON reads a templating.list entry, whose "query" is a string or
// an object with a "query" field and whose current value is a string or a
// list of strings.
func (v *Variable) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Query      json.RawMessage `json:"query"`
		Datasource *DatasourceRef  `json:"datasource"`
		Current    struct {
			Value json.RawMessage `json:"value"`
		} `json:"current"`
		IncludeAll bool   `json:"includeAll"`
		AllValue   string `json:"allValue"`
		Multi      bool   `json:"multi"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	query, err := stringOrField(raw.Query, "query")
	if err != nil {
		return fmt.Errorf("variable %q: query: %w", raw.Name, err)
	}
	current, err := stringOrList(raw.Current.Value)
	if err != nil {
		return fmt.Errorf("variable %q: current value: %w", raw.Name, err)
	}
	*v = Variable{
		Name: raw.Name, Type: raw.Type, Query: query, Datasource: raw.Datasource,
		Current: current, IncludeAll: raw.IncludeAll, AllValue: raw.AllValue, Multi: raw.Multi,
	}
	return nil
}

// PromQL returns the PromQL expression inside a Prometheus variable query —
// the series selector of label_values(selector, label) or the expression of
// query_result(expr) — and false for queries that name no expression
// (label_names(), label_values(label), metrics(regex)).
func (v Variable) PromQL() (string, bool) {
	q := strings.TrimSpace(v.Query)
	for _, fn := range []string{"label_values", "query_result"} {
		rest, ok := strings.CutPrefix(q, fn+"(")
		if !ok || !strings.HasSuffix(rest, ")") {
			continue
		}
		args := strings.TrimSuffix(rest, ")")
		if fn == "query_result" {
			return strings.TrimSpace(args), true
		}
		// label_values(selector, label): the label is after the last comma
		// outside braces, parentheses and quotes.
		if i := lastTopLevelComma(args); i >= 0 {
			return strings.TrimSpace(args[:i]), true
		}
		return "", false
	}
	return "", false
}

// lastTopLevelComma returns the index of the last comma of s that is not
// inside (), {}, [] or a quoted string, or -1.
func lastTopLevelComma(s string) int {
	depth, last := 0, -1
	var quote rune
	escaped := false
	for i, c := range s {
		switch {
		case quote != 0:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == quote:
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			last = i
		}
	}
	return last
}

// Dashboard is one dashboard file.
type Dashboard struct {
	File          string // path the dashboard was loaded from
	UID           string
	Title         string
	SchemaVersion int
	Variables     []Variable
	// Panels lists every panel in file order, rows included, with the
	// children of collapsed rows following their row.
	Panels []Panel
	// Raw is the whole document, for checks this package does not model.
	Raw map[string]any
}

// Query is one PromQL query of a dashboard panel, as written (Grafana
// variables unsubstituted).
type Query struct {
	Dashboard  string // the dashboard's uid
	PanelID    int
	Title      string // the panel's title
	RefID      string
	Expr       string
	Datasource DatasourceRef // the target's datasource, else the panel's
	Instant    bool
	Interval   string // the panel's minimum interval, empty if unset
}

// String identifies the query in test messages.
func (q Query) String() string {
	return fmt.Sprintf("%s panel %d %q query %s", q.Dashboard, q.PanelID, q.Title, q.RefID)
}

// Load loads every *.json file of dir (not descending into subdirectories),
// sorted by file name. A directory without dashboards is an error.
func Load(dir string) ([]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.json dashboards in %s", dir)
	}
	sort.Strings(files)
	out := make([]Dashboard, 0, len(files))
	for _, f := range files {
		d, err := LoadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// LoadFile loads one dashboard file.
func LoadFile(path string) (Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Dashboard{}, err
	}
	d, err := Parse(b)
	if err != nil {
		return Dashboard{}, fmt.Errorf("%s: %w", path, err)
	}
	d.File = path
	return d, nil
}

// Parse parses a dashboard JSON document. It rejects documents that are not
// a single JSON object and dashboards wrapped in the HTTP API's
// {"dashboard": …} envelope, which file provisioning does not accept.
func Parse(data []byte) (Dashboard, error) {
	var doc struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []Panel `json:"panels"`
		Templating    struct {
			List []Variable `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return Dashboard{}, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return Dashboard{}, errors.New("decode: trailing data after the dashboard object")
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return Dashboard{}, fmt.Errorf("decode: %w", err)
	}
	if _, wrapped := raw["dashboard"]; wrapped && doc.Title == "" {
		return Dashboard{}, errors.New(`an API envelope {"dashboard": …}, not a provisionable dashboard`)
	}
	var flat []Panel
	for _, p := range doc.Panels {
		flat = append(flat, p)
		flat = append(flat, p.Panels...)
	}
	return Dashboard{
		UID: doc.UID, Title: doc.Title, SchemaVersion: doc.SchemaVersion,
		Variables: doc.Templating.List, Panels: flat, Raw: raw,
	}, nil
}

// Queries lists the PromQL queries (targets with an expr) of every panel,
// in panel order.
func (d Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				continue
			}
			q := Query{
				Dashboard: d.UID, PanelID: p.ID, Title: p.Title, RefID: t.RefID,
				Expr: t.Expr, Instant: t.Instant, Interval: p.Interval,
			}
			switch {
			case t.Datasource != nil:
				q.Datasource = *t.Datasource
			case p.Datasource != nil:
				q.Datasource = *p.Datasource
			}
			out = append(out, q)
		}
	}
	return out
}

// DatasourceRefs returns every datasource reference anywhere in the
// document (panels, targets, variables, annotations, panel options such as
// the alert list's datasource filter, …): every object-valued "datasource"
// key with a uid, and every non-empty string-valued one as a name; sorted
// and distinct.
func (d Dashboard) DatasourceRefs() []DatasourceRef {
	seen := map[DatasourceRef]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "datasource" {
					switch ds := child.(type) {
					case string:
						if ds != "" {
							seen[DatasourceRef{Name: ds}] = true
						}
					case map[string]any:
						uid, _ := ds["uid"].(string)
						typ, _ := ds["type"].(string)
						if uid != "" {
							seen[DatasourceRef{Type: typ, UID: uid}] = true
						}
					}
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(d.Raw)
	out := make([]DatasourceRef, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.UID != b.UID {
			return a.UID < b.UID
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Type < b.Type
	})
	return out
}

// stringOrField decodes a JSON string, or an object's string field, or
// null/absent as "".
func stringOrField(b json.RawMessage, field string) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	var s string
	if b[0] == '"' {
		err := json.Unmarshal(b, &s)
		return s, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return "", err
	}
	return stringOrField(obj[field], field)
}

// stringOrList decodes a JSON string or list of strings; null or absent is
// an empty list.
func stringOrList(b json.RawMessage) ([]string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var list []string
	err := json.Unmarshal(b, &list)
	return list, err
}

// FindQuery returns the query refID of the panel titled title, and its
// dashboard, among ds. The title and refID must name exactly one query of
// all the dashboards: a missing or ambiguous reference is an error, so that
// a renamed or duplicated panel cannot silently resolve to another query.
func FindQuery(ds []Dashboard, title, refID string) (Dashboard, Query, error) {
	var (
		found []Query
		in    Dashboard
	)
	for _, d := range ds {
		for _, q := range d.Queries() {
			if q.Title == title && q.RefID == refID {
				found = append(found, q)
				in = d
			}
		}
	}
	switch len(found) {
	case 0:
		return Dashboard{}, Query{}, fmt.Errorf("no panel %q with a query %s", title, refID)
	case 1:
		return in, found[0], nil
	default:
		names := make([]string, len(found))
		for i, q := range found {
			names[i] = q.String()
		}
		return Dashboard{}, Query{}, fmt.Errorf("panel %q query %s is ambiguous: %s", title, refID, strings.Join(names, "; "))
	}
}

// VariableQuery returns the PromQL expression of the template variable
// name as a Query (RefID "variable"), so that it can be rendered like a
// panel query, and false when the dashboard has no such variable or its
// query names no expression (see Variable.PromQL).
func (d Dashboard) VariableQuery(name string) (Query, bool) {
	for _, v := range d.Variables {
		if v.Name != name {
			continue
		}
		expr, ok := v.PromQL()
		if !ok {
			return Query{}, false
		}
		ds := DatasourceRef{}
		if v.Datasource != nil {
			ds = *v.Datasource
		}
		return Query{Dashboard: d.UID, Title: "$" + name, RefID: "variable", Expr: expr, Datasource: ds}, true
	}
	return Query{}, false
}
