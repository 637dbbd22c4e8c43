package ordersvc

import (
	"context"
	"time"
)

// HeartbeatAlertName is the alert Prometheus keeps firing at all times so
// that its arrival proves the whole alerting pipeline works (Prometheus
// evaluates rules, an Alertmanager routes, the webhook is reachable and
// authorised).
const HeartbeatAlertName = "Watchdog"

// Heartbeat states.
const (
	HeartbeatNever  = "never"  // no heartbeat has arrived yet: nothing to miss
	HeartbeatOK     = "ok"     // heartbeats arrive
	HeartbeatSilent = "silent" // the last one is older than the timeout: the pipeline is broken
)

// Heartbeat is the dead man's switch on the Watchdog: what the store knows
// of the heartbeats, shared by every replica.
type Heartbeat struct {
	// LastReceivedAt is when the last heartbeat arrived; zero: never.
	LastReceivedAt time.Time `json:"last_received_at,omitzero"`
	// Receiver is the Alertmanager receiver the last one came through.
	Receiver string `json:"receiver,omitempty"`
	// SilentSince is when the current outage was detected; nil while
	// heartbeats arrive.
	SilentSince *time.Time `json:"silent_since,omitempty"`
	// Outages counts the outages detected so far.
	Outages int64 `json:"outages"`
	// LastRecoveredAt is when heartbeats last resumed after an outage.
	LastRecoveredAt *time.Time `json:"last_recovered_at,omitempty"`
}

// State is the switch's state: never, silent while an outage is open, ok
// otherwise.
func (h Heartbeat) State() string {
	switch {
	case h.LastReceivedAt.IsZero():
		return HeartbeatNever
	case h.SilentSince != nil:
		return HeartbeatSilent
	}
	return HeartbeatOK
}

// HeartbeatBeat is what recording one heartbeat did.
type HeartbeatBeat struct {
	Heartbeat Heartbeat
	// Recovered is true for the one heartbeat that closed an outage, on
	// whichever replica received it.
	Recovered bool
	// Outage is how long the closed outage lasted, from the last heartbeat
	// before it; set with Recovered.
	Outage time.Duration
}

// HeartbeatService keeps the heartbeat state. Every method is atomic in the
// store, so that with several replicas one outage is claimed, and one
// recovery recorded, exactly once.
type HeartbeatService interface {
	// RecordHeartbeat stores a heartbeat received at at through receiver,
	// closing an open outage.
	RecordHeartbeat(ctx context.Context, receiver string, at time.Time) (HeartbeatBeat, error)
	// ClaimSilence opens an outage when a heartbeat has arrived before but
	// none since now - timeout and no outage is open. claimed is true for
	// the one caller that opened it: that caller reports it.
	ClaimSilence(ctx context.Context, now time.Time, timeout time.Duration) (hb Heartbeat, claimed bool, err error)
	// Heartbeat returns the current state.
	Heartbeat(ctx context.Context) (Heartbeat, error)
}

// HeartbeatCheckInterval is how often a replica checks for silence with
// timeout: a twentieth of it, within 250ms to 30s, so that silence is
// detected within the timeout plus 5% (plus the check itself).
func HeartbeatCheckInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/20, 250*time.Millisecond), 30*time.Second)
}

// IsHeartbeat reports whether a is a Watchdog heartbeat that proves the
// pipeline works: a firing Watchdog (its resolution would mean Prometheus
// stopped sending it, which is silence, not a heartbeat).
func IsHeartbeat(a Alert) bool {
	return a.Labels[AlertLabelName] == HeartbeatAlertName && a.Status == AlertFiring
}
