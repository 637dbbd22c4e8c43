package promrefs

import (
	"reflect"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up == 0`, []string{"up"}},
		{`sum by (job) (rate(http_requests_total{status_code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))`, []string{"http_requests_total"}},
		{`histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))`, []string{"http_request_duration_seconds_bucket"}},
		{`{__name__="inventory_level"} < 10 and absent(foo)`, []string{"foo", "inventory_level"}},
		{`vector(1)`, []string{}},
	}
	for _, tt := range tests {
		got, err := MetricNames(tt.expr)
		if err != nil {
			t.Fatalf("MetricNames(%q): %v", tt.expr, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MetricNames(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
	if _, err := MetricNames(`sum(rate(x[5m])`); err == nil {
		t.Error("MetricNames accepted an unbalanced expression")
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"http_request_duration_seconds_bucket": "http_request_duration_seconds",
		"db_query_duration_seconds_count":      "db_query_duration_seconds",
		"up":                                   "up",
		"_count":                               "_count",
	} {
		if got := BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnparen(t *testing.T) {
	for in, want := range map[string]string{
		`((sum(x)))`:    `sum(x)`,
		`(a) + (b)`:     `(a) + (b)`,
		`x`:             `x`,
		`((x))[5m:]`:    `((x))[5m:]`,
		`(rate(x[5m]))`: `rate(x[5m])`,
	} {
		e, err := parser.ParseExpr(in)
		if err != nil {
			t.Fatalf("parse %s: %v", in, err)
		}
		if got := Unparen(e).String(); got != want {
			t.Errorf("Unparen(%s) = %s, want %s", in, got, want)
		}
	}
}
