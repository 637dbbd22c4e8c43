package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ordersvc/ordersvc"
)

func TestOrderRejectedCountsOnlyKnownReasons(t *testing.T) {
	m := newTestMetrics(t)
	for _, r := range ordersvc.RejectReasons() {
		if v := testutil.ToFloat64(m.ordersRejected.WithLabelValues(string(r))); v != 0 {
			t.Errorf("orders_rejected_total{%s} starts at %v", r, v)
		}
	}
	m.OrderRejected(ordersvc.RejectOutOfStock)
	m.OrderRejected("")
	m.OrderRejected("conflict")
	if n := testutil.CollectAndCount(m.ordersRejected); n != len(ordersvc.RejectReasons()) {
		t.Errorf("orders_rejected_total has %d series, want only the %d known reasons", n, len(ordersvc.RejectReasons()))
	}
	if v := testutil.ToFloat64(m.ordersRejected.WithLabelValues(string(ordersvc.RejectOutOfStock))); v != 1 {
		t.Errorf("orders_rejected_total{out_of_stock} = %v, want 1", v)
	}
}
