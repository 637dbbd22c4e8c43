package ordersvc

import (
	"context"
	"time"
	"unicode/utf8"
)

// Alert statuses, as Alertmanager sends them.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Alert limits: an Alertmanager notification is trusted (it carries the
// webhook token) but still bounded.
const (
	MaxAlertsPerNotification = 1000
	MaxAlertLabels           = 64   // labels of one alert
	MaxAlertAnnotations      = 64   // annotations of one alert
	MaxReceiverLen           = 256  // bytes of a notification's receiver name
	MaxGroupKeyLen           = 4096 // bytes of a notification's groupKey
	MaxFingerprintLen        = 64   // letters or digits of an alert's fingerprint
	MaxAlertListLimit        = 500
	DefaultAlertListLimit    = 100
	// MaxAlertLabelNameLen bounds a label or annotation name; a longer one
	// makes the notification malformed.
	MaxAlertLabelNameLen = 128
	// MaxAlertLabelValueLen and MaxAlertAnnotationValueLen bound what is
	// kept of a value: a longer one is cut (the alert is still stored; its
	// identity is the fingerprint, not the labels).
	MaxAlertLabelValueLen      = 1 << 10
	MaxAlertAnnotationValueLen = 8 << 10
	// MaxGeneratorURLLen bounds what is kept of an alert's generatorURL.
	MaxGeneratorURLLen = 2 << 10
	// MaxAlertPageBytes bounds the alerts of one GET /alerts page, encoded;
	// the page's next cursor leads on.
	MaxAlertPageBytes = 1 << 20
)

// The range of alert times the service accepts: startsAt and a resolved
// alert's endsAt outside it are malformed. It keeps every time exact in
// the stores (Unix nanoseconds overflow outside 1678–2262).
var (
	MinAlertTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxAlertTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ValidAlertTime reports whether t is within [MinAlertTime, MaxAlertTime).
func ValidAlertTime(t time.Time) bool {
	return !t.Before(MinAlertTime) && t.Before(MaxAlertTime)
}

// clipMarker ends a value that was cut.
const clipMarker = "…"

// clipValue cuts s to at most max bytes, on a UTF-8 boundary, ending it
// with clipMarker when it was cut.
func clipValue(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(clipMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + clipMarker
}

// BoundAlert returns a with every label and annotation value, and the
// generator URL, cut to the alert limits: what the service keeps of an
// alert is bounded whatever Alertmanager sends. The maps are copied when
// anything is cut, never modified.
func BoundAlert(a Alert) Alert {
	a.Labels = boundValues(a.Labels, MaxAlertLabelValueLen)
	a.Annotations = boundValues(a.Annotations, MaxAlertAnnotationValueLen)
	a.GeneratorURL = clipValue(a.GeneratorURL, MaxGeneratorURLLen)
	return a
}

func boundValues(m map[string]string, max int) map[string]string {
	cut := false
	for _, v := range m {
		if len(v) > max {
			cut = true
			break
		}
	}
	if !cut {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = clipValue(v, max)
	}
	return out
}

// Alert is one alert as received from Alertmanager, with what the service
// saw of its deliveries. It is identified by (Fingerprint, StartsAt): the
// same alert firing again later has a new StartsAt and is a new record.
type Alert struct {
	Fingerprint     string            `json:"fingerprint"`
	Status          string            `json:"status"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	StartsAt        time.Time         `json:"startsAt"`
	EndsAt          *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL    string            `json:"generatorURL,omitempty"`
	Receiver        string            `json:"receiver"`
	FirstReceivedAt time.Time         `json:"firstReceivedAt"`
	LastReceivedAt  time.Time         `json:"lastReceivedAt"`
	// Seq is the store's position of the record, newest highest: the
	// cursor of GET /alerts pages. It is not part of the alert.
	Seq        int64 `json:"-"`
	Deliveries int64 `json:"deliveries"`
}

// AlertNotification is one webhook delivery: a group of alerts.
type AlertNotification struct {
	Receiver        string
	Status          string
	GroupKey        string
	GroupLabels     map[string]string
	TruncatedAlerts int
	Alerts          []Alert
}

// Alert label names and values the service interprets.
const (
	// AlertLabelName is the label that names an alert.
	AlertLabelName = "alertname"
	// AlertLabelSeverity is the label that grades an alert.
	AlertLabelSeverity = "severity"
	// SeverityCritical is the severity that pages, and that is forwarded to
	// error tracking.
	SeverityCritical = "critical"
)

// AlertChange says what recording one alert did.
type AlertChange struct {
	Alert Alert
	// New is true when this delivery brought a state the store had not
	// seen: a new alert, or a firing alert now resolved. Duplicates (a
	// retry, the second Alertmanager of a cluster) are not new.
	New bool
}

// ShouldForward is the forwarding policy: a change is sent on to error
// tracking when it is new (never for a duplicate delivery) and the alert is
// firing with severity critical. Resolutions and warnings are not forwarded.
func (ch AlertChange) ShouldForward() bool {
	return ch.New && ch.Alert.Status == AlertFiring && ch.Alert.Labels[AlertLabelSeverity] == SeverityCritical
}

// AlertFilter selects alerts to list.
type AlertFilter struct {
	Status string // "", AlertFiring or AlertResolved
	// Limit is 1..MaxAlertListLimit+1: a page, and one more to tell
	// whether another page follows.
	Limit int
	// Before, when positive, lists only records older than the one with
	// this Seq (the next page).
	Before int64
}

// PageLimit is the number of records a store reads for f: Limit, or
// DefaultAlertListLimit when unset, at most MaxAlertListLimit+1.
func (f AlertFilter) PageLimit() int {
	if f.Limit <= 0 {
		return DefaultAlertListLimit
	}
	return min(f.Limit, MaxAlertListLimit+1)
}

// AlertService stores and lists received alerts.
type AlertService interface {
	// RecordAlerts durably stores every alert of n in one transaction
	// before returning: idempotent on (fingerprint, startsAt), resolved
	// updates the firing record. It returns one change per alert.
	RecordAlerts(ctx context.Context, n AlertNotification, receivedAt time.Time) ([]AlertChange, error)
	// Alerts lists alerts, newest first (by Seq).
	Alerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// DeleteResolvedAlerts deletes the resolved records last delivered
	// before cutoff (ALERT_RETENTION) and reports how many went.
	DeleteResolvedAlerts(ctx context.Context, cutoff time.Time) (int64, error)
}
