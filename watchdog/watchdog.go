// Package watchdog is the service's dead man's switch on the alerting
// pipeline. Prometheus keeps a Watchdog alert firing at all times and
// Alertmanager delivers it to the webhook every minute; once one has
// arrived, a Watchdog notification missing for the timeout means the
// pipeline itself is broken (Prometheus not evaluating, both
// Alertmanagers down, a webhook token rotated on one side only) — and no
// alert can say so, since alerts travel that very pipeline. The switch
// reports it out of band, straight to error tracking, and logs it.
//
// With several replicas the heartbeat may reach any of them: the state
// lives in the store, and opening an outage is a store-side claim, so one
// outage is one report, whichever replicas check.
package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ordersvc/ordersvc"
)

// Reporter receives the switch's verdicts; error tracking implements it.
type Reporter interface {
	// PipelineSilent reports an outage: no heartbeat for timeout since
	// hb.LastReceivedAt.
	PipelineSilent(hb ordersvc.Heartbeat, timeout time.Duration)
	// PipelineRecovered reports that heartbeats resumed after an outage of
	// outage.
	PipelineRecovered(hb ordersvc.Heartbeat, outage time.Duration)
}

// Switch is the dead man's switch. The zero Timeout turns it off: beats
// are still recorded (the metric and GET /alerts/heartbeat show them), but
// silence is never claimed.
type Switch struct {
	Store    ordersvc.HeartbeatService
	Reporter Reporter
	Logger   *slog.Logger
	// Timeout is HEARTBEAT_TIMEOUT.
	Timeout time.Duration
	// Now returns the current time (default time.Now); tests pin it.
	Now func() time.Time
}

func (s *Switch) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Switch) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Beat records a heartbeat delivered through receiver. The recovery that
// closes an outage is logged and reported by whichever replica recorded
// it, once.
func (s *Switch) Beat(ctx context.Context, receiver string) error {
	beat, err := s.Store.RecordHeartbeat(ctx, receiver, s.now())
	if err != nil {
		return fmt.Errorf("record heartbeat: %w", err)
	}
	if beat.Recovered {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "alerting pipeline recovered: heartbeats resumed",
			slog.String("receiver", receiver),
			slog.Duration("outage", beat.Outage),
			slog.Int64("outages", beat.Heartbeat.Outages))
		if s.Reporter != nil {
			s.Reporter.PipelineRecovered(beat.Heartbeat, beat.Outage)
		}
	}
	return nil
}

// Check claims an outage when heartbeats stopped for the timeout, and
// reports it if this caller's claim opened it. It reports whether it did.
func (s *Switch) Check(ctx context.Context) (bool, error) {
	if s.Timeout <= 0 {
		return false, nil
	}
	hb, claimed, err := s.Store.ClaimSilence(ctx, s.now(), s.Timeout)
	if err != nil {
		return false, fmt.Errorf("check heartbeat: %w", err)
	}
	if !claimed {
		return false, nil
	}
	s.logger().LogAttrs(ctx, slog.LevelError, "alerting pipeline silent: no Watchdog heartbeat",
		slog.Duration("timeout", s.Timeout),
		slog.Time("last_received_at", hb.LastReceivedAt),
		slog.String("receiver", hb.Receiver),
		slog.Int64("outages", hb.Outages))
	if s.Reporter != nil {
		s.Reporter.PipelineSilent(hb, s.Timeout)
	}
	return true, nil
}

// Run checks every ordersvc.HeartbeatCheckInterval(Timeout) until ctx
// ends. A failed check (the store down) is logged and retried: the switch
// must outlive the faults it exists to notice.
func (s *Switch) Run(ctx context.Context) {
	if s.Timeout <= 0 {
		return
	}
	t := time.NewTicker(ordersvc.HeartbeatCheckInterval(s.Timeout))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.logger().Warn("dead man's switch: check failed", "error", err.Error())
		}
	}
}
