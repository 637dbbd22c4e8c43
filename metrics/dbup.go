package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pinger is what db_up asks of the store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// dbUpCollector exports db_up: 1 when the store answers a query at scrape
// time, within a short timeout, else 0.
type dbUpCollector struct {
	store   Pinger
	desc    *prometheus.Desc
	timeout time.Duration
}

// DBUpTimeout bounds db_up's query, so a hung database cannot hold a scrape.
const DBUpTimeout = time.Second

// RegisterDBUp registers db_up on reg.
func RegisterDBUp(reg prometheus.Registerer, store Pinger) error {
	c := &dbUpCollector{store: store, timeout: DBUpTimeout,
		desc: prometheus.NewDesc("db_up", "1 when the database answers a query at scrape time, else 0.", nil, nil)}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register db_up: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *dbUpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *dbUpCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	up := 1.0
	if err := c.store.Ping(ctx); err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, up)
}
