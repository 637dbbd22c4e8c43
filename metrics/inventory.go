package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

// stockChunk is how many samples share one allocation: at 100,000
// products a scrape makes ~100 allocations for its samples instead of
// several per product (prometheus.MustNewConstMetric makes six).
const stockChunk = 1024

// inventoryCollector exports inventory_level by reading the database at
// scrape time, so the gauge is right after a restart and agrees across
// replicas sharing a database, instead of drifting from in-process updates.
//
// Every product gets its series: InventoryLow and OutOfStock fire per
// product (SPEC §4, §5), which needs one series per product_id; 100,000
// products are 100,000 series per replica, the size SPEC §10 benchmarks.
type inventoryCollector struct {
	store   StockReader
	desc    *prometheus.Desc
	label   string // "product_id"; samples point at it
	timeout time.Duration
}

// RegisterInventory registers the inventory_level collector on reg.
func RegisterInventory(reg prometheus.Registerer, store StockReader) error {
	c := &inventoryCollector{
		store:   store,
		desc:    prometheus.NewDesc("inventory_level", "Units in stock, by product, read from the database at scrape time.", []string{"product_id"}, nil),
		label:   "product_id",
		timeout: inventoryTimeout,
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register inventory collector: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Rows are streamed from the
// store and sent as they arrive; samples are carved out of chunks of
// stockChunk, each a single allocation that the garbage collector frees
// once the scrape that gathered it is done.
func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var chunk []stockSample
	err := c.store.ProductStocks(ctx, func(id string, stock int64) error {
		if len(chunk) == 0 {
			chunk = make([]stockSample, stockChunk)
		}
		s := &chunk[0]
		chunk = chunk[1:]
		s.init(c, id, stock)
		ch <- s
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read inventory: %w", err))
	}
}

// stockSample is one inventory_level sample, a prometheus.Metric whose
// Write fills the registry's dto.Metric with pointers into the sample
// itself, so writing allocates nothing. A sample is written by one scrape
// only and never reused, so sharing its memory with the scrape's
// dto.Metric is safe.
type stockSample struct {
	desc   *prometheus.Desc
	id     string
	value  float64
	pair   dto.LabelPair
	labels [1]*dto.LabelPair
	gauge  dto.Gauge
}

// init sets the sample to id's stock.
func (s *stockSample) init(c *inventoryCollector, id string, stock int64) {
	s.desc = c.desc
	s.id = id
	s.value = float64(stock)
	s.pair.Name = &c.label
	s.pair.Value = &s.id
	s.labels[0] = &s.pair
	s.gauge.Value = &s.value
}

// Desc implements prometheus.Metric.
func (s *stockSample) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric.
func (s *stockSample) Write(out *dto.Metric) error {
	out.Label = s.labels[:]
	out.Gauge = &s.gauge
	return nil
}
