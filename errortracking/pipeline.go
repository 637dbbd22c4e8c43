package errortracking

import (
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/ordersvc/ordersvc"
)

// pipelineFingerprint groups every outage of the alerting pipeline, and
// its recoveries, into one Sentry issue.
var pipelineFingerprint = []string{"ordersvc", "alerting-pipeline-silent"}

// PipelineSilent reports that the Watchdog heartbeat stopped: the
// alerting pipeline is broken, so this event is the only way the news can
// travel. It goes straight to Sentry through the tracker's error queue
// (never crowded out by transactions), with a stable fingerprint, the time
// of the last heartbeat and the receiver it came through. It implements
// watchdog.Reporter.
func (t *Tracker) PipelineSilent(hb ordersvc.Heartbeat, timeout time.Duration) {
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Logger = "deadmansswitch"
	ev.Message = "alerting pipeline silent: no " + ordersvc.HeartbeatAlertName + " heartbeat for " + timeout.String()
	ev.Fingerprint = pipelineFingerprint
	ev.Tags = map[string]string{"source": "deadmansswitch", "heartbeat_state": ordersvc.HeartbeatSilent}
	ev.Contexts["heartbeat"] = heartbeatContext(hb, timeout)
	t.CaptureEvent(ev)
}

// PipelineRecovered reports that heartbeats resumed after an outage, in
// the same issue as the outage. It implements watchdog.Reporter.
func (t *Tracker) PipelineRecovered(hb ordersvc.Heartbeat, outage time.Duration) {
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelInfo
	ev.Logger = "deadmansswitch"
	ev.Message = "alerting pipeline recovered: heartbeats resumed after " + outage.Round(time.Second).String()
	ev.Fingerprint = pipelineFingerprint
	ev.Tags = map[string]string{"source": "deadmansswitch", "heartbeat_state": ordersvc.HeartbeatOK}
	ctx := heartbeatContext(hb, 0)
	ctx["outage_seconds"] = outage.Seconds()
	ev.Contexts["heartbeat"] = ctx
	t.CaptureEvent(ev)
}

func heartbeatContext(hb ordersvc.Heartbeat, timeout time.Duration) sentry.Context {
	c := sentry.Context{
		"last_received_at": hb.LastReceivedAt.Format(time.RFC3339Nano),
		"receiver":         truncate(hb.Receiver),
		"outages":          hb.Outages,
	}
	if timeout > 0 {
		c["timeout"] = timeout.String()
	}
	if hb.SilentSince != nil {
		c["silent_since"] = hb.SilentSince.Format(time.RFC3339Nano)
	}
	return c
}
