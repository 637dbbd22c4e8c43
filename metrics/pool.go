package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
)

// PoolReporter is what the pool collector needs from a store.
type PoolReporter interface {
	PoolStats() []ordersvc.PoolStat
}

// poolCollector exports db_pool_connections{pool, state}, read from the
// store's pools at scrape time.
type poolCollector struct {
	store PoolReporter
	desc  *prometheus.Desc
}

// RegisterPools registers db_pool_connections on reg for a store that
// reports its pools; a store that does not is skipped.
func RegisterPools(reg prometheus.Registerer, store any) error {
	pr, ok := store.(PoolReporter)
	if !ok {
		return nil
	}
	c := &poolCollector{store: pr, desc: prometheus.NewDesc("db_pool_connections",
		"Database connections by pool and state (in_use, idle), read at scrape time.", []string{"pool", "state"}, nil)}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register pool collector: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.store.PoolStats() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(p.InUse), p.Pool, "in_use")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(p.Idle), p.Pool, "idle")
	}
}
