package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/httpx"
	"github.com/ordersvc/ordersvc/problem"
)

// HeartbeatRecorder records a Watchdog heartbeat delivered through a
// receiver (watchdog.Switch implements it).
type HeartbeatRecorder interface {
	Beat(ctx context.Context, receiver string) error
}

// heartbeatView is GET /alerts/heartbeat.
type heartbeatView struct {
	State   string `json:"state"`
	Timeout string `json:"timeout"`
	ordersvc.Heartbeat
	// AgeSeconds is how long ago the last heartbeat arrived.
	AgeSeconds *float64 `json:"age_seconds,omitempty"`
}

// heartbeat is GET /alerts/heartbeat: the dead man's switch's state.
func (h *api) heartbeat(c *gin.Context) {
	if h.Heartbeats == nil {
		h.fail(c, ordersvc.Errorf(ordersvc.KindNotFound, "the heartbeat is not kept"))
		return
	}
	hb, err := h.Heartbeats.Heartbeat(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	v := heartbeatView{State: hb.State(), Timeout: h.HeartbeatTimeout.String(), Heartbeat: hb}
	if !hb.LastReceivedAt.IsZero() {
		age := time.Since(hb.LastReceivedAt).Seconds()
		v.AgeSeconds = &age
	}
	c.JSON(http.StatusOK, v)
}

// AlertForwarder sends firing critical alerts on (to Sentry). It must not
// block: the webhook answers Alertmanager without waiting for it.
type AlertForwarder interface {
	ForwardAlert(a ordersvc.Alert, groupLabels map[string]string)
}

// alertStatusMessage is the message for a status outside the alert statuses.
const alertStatusMessage = "must be " + ordersvc.AlertFiring + " or " + ordersvc.AlertResolved

// webhookPayload is Alertmanager's webhook body, version 4. Fields the
// service does not use are ignored, as are unknown ones (Alertmanager may
// add fields in minor releases).
type webhookPayload struct {
	Version         string            `json:"version"`
	GroupKey        string            `json:"groupKey"`
	TruncatedAlerts int               `json:"truncatedAlerts"`
	Status          string            `json:"status"`
	Receiver        string            `json:"receiver"`
	GroupLabels     map[string]string `json:"groupLabels"`
	Alerts          []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// DecodeWebhook turns a webhook body into a notification. Anything that is
// not a well-formed version 4 payload is a 400 (Alertmanager does not retry
// 4xx, and retrying would not help).
func DecodeWebhook(body []byte) (ordersvc.AlertNotification, *problem.Details) {
	var p webhookPayload
	if prob := decodeObject(body, &p, true); prob != nil {
		bad := badRequest(prob.Detail)
		if prob.Status == http.StatusUnprocessableEntity {
			bad = badRequest("a field has the wrong JSON type")
		}
		return ordersvc.AlertNotification{}, &bad
	}
	fail := func(detail string) (ordersvc.AlertNotification, *problem.Details) {
		bad := badRequest(detail)
		return ordersvc.AlertNotification{}, &bad
	}
	if p.Version != "4" {
		return fail(`unsupported payload version: want "4"`)
	}
	if len(p.Alerts) == 0 || len(p.Alerts) > ordersvc.MaxAlertsPerNotification {
		return fail("a notification carries 1 to " + strconv.Itoa(ordersvc.MaxAlertsPerNotification) + " alerts")
	}
	if p.TruncatedAlerts < 0 || len(p.Receiver) > ordersvc.MaxReceiverLen || len(p.GroupKey) > ordersvc.MaxGroupKeyLen {
		return fail("receiver, groupKey or truncatedAlerts out of range")
	}
	n := ordersvc.AlertNotification{
		Receiver: p.Receiver, Status: p.Status, GroupKey: p.GroupKey,
		GroupLabels: p.GroupLabels, TruncatedAlerts: p.TruncatedAlerts,
		Alerts: make([]ordersvc.Alert, 0, len(p.Alerts)),
	}
	for i, a := range p.Alerts {
		switch {
		case a.Status != ordersvc.AlertFiring && a.Status != ordersvc.AlertResolved:
			return fail("alerts[" + strconv.Itoa(i) + "].status " + alertStatusMessage)
		case !validFingerprint(a.Fingerprint):
			return fail("alerts[" + strconv.Itoa(i) + "].fingerprint must be 1 to " + strconv.Itoa(ordersvc.MaxFingerprintLen) + " letters or digits")
		case a.StartsAt.IsZero():
			return fail("alerts[" + strconv.Itoa(i) + "].startsAt is required")
		case a.Labels[ordersvc.AlertLabelName] == "":
			return fail("alerts[" + strconv.Itoa(i) + "].labels.alertname is required")
		case len(a.Labels) > ordersvc.MaxAlertLabels || len(a.Annotations) > ordersvc.MaxAlertAnnotations:
			return fail("alerts[" + strconv.Itoa(i) + "] has too many labels or annotations")
		case !namesBounded(a.Labels) || !namesBounded(a.Annotations):
			return fail("alerts[" + strconv.Itoa(i) + "] has a label or annotation name over " + strconv.Itoa(ordersvc.MaxAlertLabelNameLen) + " bytes")
		case !ordersvc.ValidAlertTime(a.StartsAt):
			return fail("alerts[" + strconv.Itoa(i) + "].startsAt " + alertTimeRangeMessage)
		case a.Status == ordersvc.AlertResolved && !a.EndsAt.IsZero() && !ordersvc.ValidAlertTime(a.EndsAt):
			return fail("alerts[" + strconv.Itoa(i) + "].endsAt " + alertTimeRangeMessage)
		}
		alert := ordersvc.BoundAlert(ordersvc.Alert{
			Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt.UTC(), GeneratorURL: a.GeneratorURL,
		})
		if alert.Annotations == nil {
			alert.Annotations = map[string]string{}
		}
		// Firing alerts carry Alertmanager's zero time (or a guess) in
		// endsAt; only a resolved alert has a real end.
		if a.Status == ordersvc.AlertResolved && !a.EndsAt.IsZero() {
			end := a.EndsAt.UTC()
			alert.EndsAt = &end
		}
		n.Alerts = append(n.Alerts, alert)
	}
	return n, nil
}

// alertTimeRangeMessage says which alert times are accepted.
var alertTimeRangeMessage = "must be from " + ordersvc.MinAlertTime.Format(time.DateOnly) +
	" to before " + ordersvc.MaxAlertTime.Format(time.DateOnly)

// namesBounded reports whether every key of m is at most
// MaxAlertLabelNameLen bytes.
func namesBounded(m map[string]string) bool {
	for k := range m {
		if len(k) > ordersvc.MaxAlertLabelNameLen {
			return false
		}
	}
	return true
}

func validFingerprint(s string) bool {
	if s == "" || len(s) > ordersvc.MaxFingerprintLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// receiveAlerts is POST /webhooks/alertmanager. It answers 2xx only once
// every alert is committed, and 503 on a storage failure so that
// Alertmanager retries.
func (h *api) receiveAlerts(c *gin.Context) {
	body, p := readJSONBody(c, maxWebhookBody)
	if p != nil {
		if p.Status == http.StatusUnsupportedMediaType {
			// Alertmanager always sends JSON; refusing it on a header would
			// lose alerts from a proxy that rewrote it, and gains nothing.
			body, p = readBodyLimited(c, maxWebhookBody)
		}
		if p != nil {
			abortWith(c, *p)
			return
		}
	}
	n, p := DecodeWebhook(body)
	if p != nil {
		abortWith(c, *p)
		return
	}
	// The webhook's work is a span of its own under the request's, with
	// the store's queries inside it.
	ctx, span := h.Tracing.StartSpan(c.Request.Context(), "alertmanager.webhook",
		attribute.String("alertmanager.receiver", httpx.Clip(n.Receiver, 128)), attribute.Int("alertmanager.alerts", len(n.Alerts)))
	var err error
	defer func() { span.End(err) }()
	changes, err := h.Alerts.RecordAlerts(ctx, n, time.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	if h.Heartbeat != nil && slices.ContainsFunc(n.Alerts, ordersvc.IsHeartbeat) {
		// A failure is a 503, so Alertmanager retries: the alerts above
		// are stored idempotently, and the heartbeat must not be lost.
		if err = h.Heartbeat.Beat(ctx, n.Receiver); err != nil {
			h.fail(c, err)
			return
		}
	}
	created := 0
	for _, ch := range changes {
		if !ch.New {
			continue
		}
		created++
		a := ch.Alert
		h.Metrics.AlertReceived(a.Labels[ordersvc.AlertLabelName], a.Labels[ordersvc.AlertLabelSeverity], a.Status)
		if h.AlertForwarder != nil && ch.ShouldForward() {
			_, fwd := h.Tracing.StartSpan(ctx, "sentry.forward_alert", attribute.String("alertname", httpx.Clip(a.Labels[ordersvc.AlertLabelName], 128)))
			h.AlertForwarder.ForwardAlert(a, n.GroupLabels)
			fwd.End(nil)
		}
	}
	c.JSON(http.StatusOK, gin.H{"received": len(changes), "new": created})
}

// listAlerts is GET /alerts.
func (h *api) listAlerts(c *gin.Context) {
	f := ordersvc.AlertFilter{Status: c.Query("status"), Limit: ordersvc.DefaultAlertListLimit}
	var errs []ordersvc.FieldError
	if f.Status != "" && f.Status != ordersvc.AlertFiring && f.Status != ordersvc.AlertResolved {
		errs = append(errs, ordersvc.FieldError{Field: "status", Message: alertStatusMessage})
	}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ordersvc.MaxAlertListLimit {
			errs = append(errs, ordersvc.FieldError{Field: "limit", Message: ordersvc.IntRangeMessage(1, ordersvc.MaxAlertListLimit)})
		}
		f.Limit = n
	}
	if v, ok := c.GetQuery("before"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, ordersvc.FieldError{Field: "before", Message: "must be the next cursor of a previous page"})
		}
		f.Before = n
	}
	if len(errs) > 0 {
		h.fail(c, ordersvc.InvalidFields(errs...))
		return
	}
	limit := f.Limit
	f.Limit++ // one more than asked: is there a next page?
	alerts, err := h.Alerts.Alerts(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	body, err := alertPage(alerts, limit, ordersvc.MaxAlertPageBytes)
	if err != nil {
		h.fail(c, fmt.Errorf("encode alerts: %w", err))
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// alertPage encodes {"alerts":[…],"next":"<cursor>"}: at most limit alerts
// and, past the first, at most maxBytes of them, so one page stays bounded
// whatever the alerts hold. next is present when more alerts follow.
func alertPage(alerts []ordersvc.Alert, limit, maxBytes int) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"alerts":[`)
	shown := 0
	for _, a := range alerts {
		if shown == limit {
			break
		}
		item, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		if shown > 0 && buf.Len()+len(item) > maxBytes {
			break
		}
		if shown > 0 {
			buf.WriteByte(',')
		}
		buf.Write(item)
		shown++
	}
	buf.WriteByte(']')
	if shown < len(alerts) {
		buf.WriteString(`,"next":"`)
		buf.WriteString(strconv.FormatInt(alerts[shown-1].Seq, 10))
		buf.WriteByte('"')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
