package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestGrowthSmall runs the data-growth tool on a small scale, so that the
// tool itself is tested: stages load, the totals agree with the orders,
// every endpoint answers, and the table prints.
func TestGrowthSmall(t *testing.T) {
	o := DefaultGrowthOptions(t.TempDir())
	o.Stages, o.Products, o.Samples = []int64{1000, 3000}, 500, 5
	stages, err := Growth(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		if s.SummaryOrders != s.Orders || s.SummaryRevenue != s.Revenue {
			t.Errorf("%d orders loaded (revenue %s), the summary counts %d (revenue %s)", s.Orders, s.Revenue, s.SummaryOrders, s.SummaryRevenue)
		}
		for _, ep := range growthEndpoints {
			if s.Median[ep] <= 0 {
				t.Errorf("%d orders: no time for %s", s.Orders, ep)
			}
		}
	}
	var b bytes.Buffer
	if err := WriteGrowthTable(&b, stages); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "3k orders") {
		t.Errorf("table:\n%s", b.String())
	}
}
