package ordersvc

import (
	"testing"
	"time"
)

func TestHeartbeatState(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		hb   Heartbeat
		want string
	}{
		{"never", Heartbeat{}, HeartbeatNever},
		{"ok", Heartbeat{LastReceivedAt: now}, HeartbeatOK},
		{"silent", Heartbeat{LastReceivedAt: now, SilentSince: &now}, HeartbeatSilent},
		{"recovered", Heartbeat{LastReceivedAt: now, LastRecoveredAt: &now, Outages: 1}, HeartbeatOK},
	}
	for _, tt := range tests {
		if got := tt.hb.State(); got != tt.want {
			t.Errorf("%s: State = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHeartbeatCheckInterval(t *testing.T) {
	tests := []struct{ timeout, want time.Duration }{
		{5 * time.Minute, 15 * time.Second},
		{time.Hour, 30 * time.Second},
		{5 * time.Second, 250 * time.Millisecond},
		{20 * time.Second, time.Second},
	}
	for _, tt := range tests {
		if got := HeartbeatCheckInterval(tt.timeout); got != tt.want {
			t.Errorf("HeartbeatCheckInterval(%s) = %s, want %s", tt.timeout, got, tt.want)
		}
	}
}

func TestIsHeartbeat(t *testing.T) {
	wd := Alert{Status: AlertFiring, Labels: map[string]string{"alertname": "Watchdog"}}
	if !IsHeartbeat(wd) {
		t.Error("a firing Watchdog is a heartbeat")
	}
	resolved := wd
	resolved.Status = AlertResolved
	other := Alert{Status: AlertFiring, Labels: map[string]string{"alertname": "HighErrorRate"}}
	if IsHeartbeat(resolved) || IsHeartbeat(other) {
		t.Error("a resolved Watchdog or another alert is no heartbeat")
	}
}
