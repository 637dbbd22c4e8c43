package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
)

// HeartbeatReader is what the heartbeat gauge needs from the store.
type HeartbeatReader interface {
	Heartbeat(ctx context.Context) (ordersvc.Heartbeat, error)
}

// heartbeatCollector exports alert_heartbeat_last_received_timestamp_seconds
// from the store at scrape time, so every replica shows the same last
// heartbeat whichever received it.
type heartbeatCollector struct {
	store   HeartbeatReader
	desc    *prometheus.Desc
	timeout time.Duration
}

// RegisterHeartbeat registers the heartbeat gauge on reg.
func RegisterHeartbeat(reg prometheus.Registerer, store HeartbeatReader) error {
	c := &heartbeatCollector{store: store, timeout: time.Second,
		desc: prometheus.NewDesc("alert_heartbeat_last_received_timestamp_seconds",
			"Unix time of the last Watchdog heartbeat notification (0 = never), read from the store at scrape time.", nil, nil)}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register heartbeat gauge: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *heartbeatCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A store that does not answer
// drops the series for this scrape (db_up says why), rather than showing a
// misleading 0.
func (c *heartbeatCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	hb, err := c.store.Heartbeat(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read heartbeat: %w", err))
		return
	}
	v := 0.0
	if !hb.LastReceivedAt.IsZero() {
		v = float64(hb.LastReceivedAt.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
}
