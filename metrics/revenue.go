package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
)

// revenueCounter is order_revenue_total: revenue by order type, kept as
// exact integer sums of minor units and converted to currency units once,
// at scrape time. A float counter incremented by each order's amount
// drifts (22098.799999999985 against the database's exact 22098.8); this
// one always equals the exact sum rounded once.
type revenueCounter struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	types []ordersvc.OrderType
	sums  map[ordersvc.OrderType]ordersvc.Sum
}

func newRevenueCounter() *revenueCounter {
	r := &revenueCounter{
		desc: prometheus.NewDesc("order_revenue_total",
			"Revenue of created orders in currency units, by order type.", []string{"type"}, nil),
		types: ordersvc.OrderTypes(),
		sums:  map[ordersvc.OrderType]ordersvc.Sum{},
	}
	for _, t := range r.types {
		r.sums[t] = ordersvc.Sum{} // pre-initialised: increase() sees the first order
	}
	return r
}

// add counts one order's amount; a type outside the closed set is ignored
// (it cannot become a label).
func (r *revenueCounter) add(t ordersvc.OrderType, amount ordersvc.Money) {
	if !t.Valid() || amount < 0 {
		return
	}
	r.mu.Lock()
	r.sums[t] = r.sums[t].Add(amount)
	r.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (r *revenueCounter) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

// Collect implements prometheus.Collector.
func (r *revenueCounter) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	values := make([]float64, len(r.types))
	for i, t := range r.types {
		values[i] = r.sums[t].Units()
	}
	r.mu.Unlock()
	for i, t := range r.types {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, values[i], string(t))
	}
}
