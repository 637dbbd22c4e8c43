package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pinger is what db_up needs from the store: a check that it answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// dbUpCollector exports db_up by pinging the store at scrape time, so the
// gauge says what the store does now rather than what the last request saw.
type dbUpCollector struct {
	store   Pinger
	desc    *prometheus.Desc
	timeout time.Duration
}

// RegisterDBUp registers db_up on reg: 1 when store's Ping succeeds within
// timeout at scrape time, else 0. A slow store counts as down, so that a
// scrape never waits on it for longer than timeout.
func RegisterDBUp(reg prometheus.Registerer, store Pinger, timeout time.Duration) error {
	c := &dbUpCollector{
		store:   store,
		desc:    prometheus.NewDesc("db_up", "1 when the store answers a query at scrape time (within a short timeout), else 0.", nil, nil),
		timeout: timeout,
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register db_up collector: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *dbUpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A failed ping is the value 0,
// never a failed scrape: the DatabaseDown alert needs the series.
func (c *dbUpCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	up := 1.0
	if err := c.store.Ping(ctx); err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, up)
}
