// Package promrefs finds which metrics PromQL expressions name, so tests can
// prove that every metric a rule or dashboard queries really exists.
package promrefs

import (
	"fmt"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// MetricNames parses expr and returns the sorted, distinct metric names its
// vector and matrix selectors name (by `name{…}` or `{__name__="name"}`).
func MetricNames(expr string) ([]string, error) {
	node, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	seen := map[string]struct{}{}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			seen[vs.Name] = struct{}{}
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				seen[m.Value] = struct{}{}
			}
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// BaseName maps a histogram or summary series name to the family that
// exports it: x_bucket, x_sum and x_count → x. Other names are returned as
// they are. Callers check both the name and its base.
func BaseName(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
			return name[:len(name)-len(suffix)]
		}
	}
	return name
}

// Unparen returns e without the parentheses around it: ((x)) → x.
func Unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}
