package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StockReader is what the inventory collector needs from the store: every
// product's id and stock, streamed.
type StockReader interface {
	ProductStocks(ctx context.Context, fn func(id string, stock int64) error) error
}

// inventoryTimeout bounds the inventory read of one scrape, well inside
// the handler's timeout, so a slow database costs a scrape its
// inventory_level series and not the whole scrape.
const inventoryTimeout = 5 * time.Second

// inventoryCollector exports inventory_level by reading the database at
// scrape time, so the gauge is right after a restart and agrees across
// replicas sharing a database, instead of drifting from in-process updates.
type inventoryCollector struct {
	store   StockReader
	desc    *prometheus.Desc
	timeout time.Duration
}

// RegisterInventory registers the inventory_level collector on reg.
func RegisterInventory(reg prometheus.Registerer, store StockReader) error {
	c := &inventoryCollector{
		store:   store,
		desc:    prometheus.NewDesc("inventory_level", "Units in stock, by product, read from the database at scrape time.", []string{"product_id"}, nil),
		timeout: inventoryTimeout,
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register inventory collector: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	err := c.store.ProductStocks(ctx, func(id string, stock int64) error {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(stock), id)
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read inventory: %w", err))
	}
}
