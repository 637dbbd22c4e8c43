package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults and bounds of the duration variables, used by validation and by
// its messages.
const (
	// DefaultShutdownDelay is SHUTDOWN_DELAY's default.
	DefaultShutdownDelay = 5 * time.Second
	// MaxShutdownDelay bounds SHUTDOWN_DELAY (0 is allowed: no delay).
	MaxShutdownDelay = 5 * time.Minute
	// DefaultShutdownTimeout is SHUTDOWN_TIMEOUT's default.
	DefaultShutdownTimeout = 15 * time.Second
	// MaxShutdownTimeout bounds SHUTDOWN_TIMEOUT (which must be positive).
	MaxShutdownTimeout = 10 * time.Minute
	// DefaultHeartbeatTimeout is HEARTBEAT_TIMEOUT's default.
	DefaultHeartbeatTimeout = 5 * time.Minute
	// MinHeartbeatTimeout is the shortest HEARTBEAT_TIMEOUT other than 0
	// (off): shorter would report a silent pipeline between two heartbeats.
	MinHeartbeatTimeout = 5 * time.Second
	// MaxHeartbeatTimeout bounds HEARTBEAT_TIMEOUT.
	MaxHeartbeatTimeout = 24 * time.Hour
	// DefaultAlertRetention is ALERT_RETENTION's default (30 days).
	DefaultAlertRetention = 720 * time.Hour
	// MaxAlertRetention bounds ALERT_RETENTION (about 10 years).
	MaxAlertRetention = 87600 * time.Hour
)

// durationRule says which values a duration variable takes.
type durationRule struct {
	def      time.Duration
	min, max time.Duration // inclusive; min 1ns means "positive"
	zeroOff  bool          // 0 is also accepted, and means off
}

// describe is the rule in words, for the message.
func (r durationRule) describe() string {
	switch {
	case r.min <= 0:
		return fmt.Sprintf("a duration from 0s to %s", short(r.max))
	case r.zeroOff:
		return fmt.Sprintf("0 (off) or a duration from %s to %s", short(r.min), short(r.max))
	case r.min == time.Nanosecond:
		return fmt.Sprintf("a positive duration up to %s", short(r.max))
	}
	return fmt.Sprintf("a duration from %s to %s", short(r.min), short(r.max))
}

// parse returns v as a duration under r; v empty is r.def.
func (r durationRule) parse(v string) (time.Duration, string) {
	if v == "" {
		return r.def, ""
	}
	d, err := time.ParseDuration(v)
	if err == nil && (d == 0 && r.zeroOff || d >= r.min && d <= r.max) {
		return d, ""
	}
	return 0, fmt.Sprintf("%q is not %s (e.g. 90s, 5m, 1h30m)", truncate(v), r.describe())
}

// short formats d without zero trailing units: 5m, not 5m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
