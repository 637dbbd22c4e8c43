package errortracking

import (
	"context"
	"sort"

	"github.com/getsentry/sentry-go"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/httpx"
)

// Bounds on what an alert puts into a Sentry event.
const (
	maxAlertTags     = 32
	maxAlertTagValue = 200
)

// ForwardAlert sends a firing alert to Sentry as one event whose
// fingerprint is "alertmanager", the alert name and the values of the
// notification's grouping labels, so every repeat of the same alert group
// lands in one Sentry issue. It implements handlers.AlertForwarder.
//
// It does not block the webhook: building the event is cheap, and delivery
// goes through the tracker's bounded queue (a full queue drops and counts).
// It runs under the recover helper, so a bad alert cannot break the webhook.
func (t *Tracker) ForwardAlert(a ordersvc.Alert, groupLabels map[string]string) {
	t.Run(context.Background(), "alert-forwarder", func(context.Context) {
		t.CaptureEvent(AlertEvent(a, groupLabels))
	})
}

// AlertEvent builds the Sentry event for an alert (exported for tests).
func AlertEvent(a ordersvc.Alert, groupLabels map[string]string) *sentry.Event {
	name := a.Labels["alertname"]
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Logger = "alertmanager"
	ev.Message = httpx.Clip("["+a.Status+"] "+name+": "+a.Annotations["summary"], maxValueLen)
	ev.Fingerprint = []string{"alertmanager", name}
	for _, k := range sortedKeys(groupLabels) {
		if k != "alertname" {
			ev.Fingerprint = append(ev.Fingerprint, httpx.Clip(groupLabels[k], maxAlertTagValue))
		}
	}
	ev.Tags = map[string]string{"source": "alertmanager", "alert_fingerprint": a.Fingerprint}
	for _, k := range sortedKeys(a.Labels) {
		if len(ev.Tags) >= maxAlertTags {
			break
		}
		ev.Tags[httpx.Clip(k, 32)] = httpx.Clip(a.Labels[k], maxAlertTagValue)
	}
	alert := sentry.Context{
		"status":        a.Status,
		"starts_at":     a.StartsAt,
		"generator_url": truncate(a.GeneratorURL),
	}
	for _, k := range sortedKeys(a.Annotations) {
		if len(alert) >= maxAlertTags {
			break
		}
		alert["annotation."+httpx.Clip(k, 32)] = truncate(a.Annotations[k])
	}
	ev.Contexts["alert"] = alert
	return ev
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
