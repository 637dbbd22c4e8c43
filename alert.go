package ordersvc

import (
	"context"
	"time"
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
)

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
	Deliveries      int64             `json:"deliveries"`
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
	Limit  int    // 1..MaxAlertListLimit
}

// AlertService stores and lists received alerts.
type AlertService interface {
	// RecordAlerts durably stores every alert of n in one transaction
	// before returning: idempotent on (fingerprint, startsAt), resolved
	// updates the firing record. It returns one change per alert.
	RecordAlerts(ctx context.Context, n AlertNotification, receivedAt time.Time) ([]AlertChange, error)
	// Alerts lists alerts, newest first.
	Alerts(ctx context.Context, f AlertFilter) ([]Alert, error)
}
