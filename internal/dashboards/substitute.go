package dashboards

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Env is the rendering context Grafana would supply when it runs a panel:
// the dashboard's time range, the query interval and the Prometheus
// datasource's scrape interval (its "timeInterval" setting).
type Env struct {
	Range          time.Duration // the dashboard's time range: $__range
	Interval       time.Duration // the query step before panel minimums: $__interval
	ScrapeInterval time.Duration // the datasource's scrape interval, for $__rate_interval
}

// DefaultEnv is a one-hour dashboard with a 15s step over a 15s scrape
// interval: Grafana's usual defaults for the compose stack.
func DefaultEnv() Env {
	return Env{Range: time.Hour, Interval: 15 * time.Second, ScrapeInterval: 15 * time.Second}
}

// Builtins returns Grafana's global variables for a panel whose minimum
// interval is panelInterval (as written in the panel, e.g. "1h" or ">1h";
// empty for none):
//
//	$__interval       max(Env.Interval, panel minimum)
//	$__rate_interval  max($__interval + scrape interval, 4 × scrape interval)
//	$__range          Env.Range
//
// and the _ms / _s variants Grafana also defines.
func (e Env) Builtins(panelInterval string) (map[string]string, error) {
	interval := e.Interval
	if s := strings.TrimPrefix(strings.TrimSpace(panelInterval), ">"); s != "" {
		min, err := model.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("panel interval %q: %w", panelInterval, err)
		}
		interval = max(interval, time.Duration(min))
	}
	if interval <= 0 || e.ScrapeInterval <= 0 || e.Range <= 0 {
		return nil, fmt.Errorf("env %+v: range, interval and scrape interval must be positive", e)
	}
	rate := max(interval+e.ScrapeInterval, 4*e.ScrapeInterval)
	return map[string]string{
		"__interval":         promDuration(interval),
		"__interval_ms":      strconv.FormatInt(interval.Milliseconds(), 10),
		"__rate_interval":    promDuration(rate),
		"__range":            promDuration(e.Range),
		"__range_s":          strconv.FormatInt(int64(e.Range/time.Second), 10),
		"__range_ms":         strconv.FormatInt(e.Range.Milliseconds(), 10),
		"__rate_interval_ms": strconv.FormatInt(rate.Milliseconds(), 10),
	}, nil
}

// promDuration formats d as a PromQL duration ("1h", "1m15s").
func promDuration(d time.Duration) string { return model.Duration(d).String() }

// Vars returns the values of the dashboard's template variables as saved
// (their current values): a single value as is, several values as a regex
// alternation "(a|b)" the way Grafana formats multi-values for Prometheus,
// and All as the variable's allValue, or ".*" when it has none.
func (d Dashboard) Vars() map[string]string {
	vars := map[string]string{}
	for _, v := range d.Variables {
		switch {
		case len(v.Current) == 0 && v.Type == "constant":
			vars[v.Name] = v.Query
		case len(v.Current) == 0 || (len(v.Current) == 1 && v.Current[0] == "$__all"):
			if v.AllValue != "" {
				vars[v.Name] = v.AllValue
			} else {
				vars[v.Name] = ".*"
			}
		case len(v.Current) == 1:
			vars[v.Name] = v.Current[0]
		default:
			quoted := make([]string, len(v.Current))
			for i, c := range v.Current {
				quoted[i] = regexp.QuoteMeta(c)
			}
			vars[v.Name] = "(" + strings.Join(quoted, "|") + ")"
		}
	}
	return vars
}

// Render returns q's expression with every Grafana variable substituted:
// the builtins of env for q's panel, the dashboard's template variables at
// their saved values, and overrides (which win; e.g. {"job": "ordersvc"}).
func (d Dashboard) Render(q Query, env Env, overrides map[string]string) (string, error) {
	vars, err := env.Builtins(q.Interval)
	if err != nil {
		return "", fmt.Errorf("%s: %w", q, err)
	}
	for k, v := range d.Vars() {
		vars[k] = v
	}
	for k, v := range overrides {
		vars[k] = v
	}
	out, err := Substitute(q.Expr, vars)
	if err != nil {
		return "", fmt.Errorf("%s: %w", q, err)
	}
	return out, nil
}

// varRef matches Grafana's three variable syntaxes: ${name} and
// ${name:format}, [[name]] and [[name:format]], and $name.
var varRef = regexp.MustCompile(`\$\{(\w+)(?::([^}]*))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)`)

// Substitute replaces every Grafana variable reference in expr ($name,
// ${name}, ${name:format}, [[name]]) by its value in vars. Values are
// inserted as given; a ${name:format} suffix does not change them. A
// reference whose name starts with a digit (such as label_replace's "$1")
// is not a variable and is left alone. Any other name missing from vars is
// an error, so a typo cannot slip through as literal text.
func Substitute(expr string, vars map[string]string) (string, error) {
	missing := map[string]bool{}
	out := varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[3] + m[5] // exactly one alternative matched
		if name[0] >= '0' && name[0] <= '9' {
			return ref
		}
		v, ok := vars[name]
		if !ok {
			missing["$"+name] = true
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("undefined variables %s in %q", strings.Join(names, ", "), expr)
	}
	return out, nil
}
