package errortracking_test

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
)

// TestForwardAlert sends two firings of one alert group (different
// instances, so different alerts) through the real SDK to the sink: both
// arrive as level error with the same fingerprint, so Sentry groups them
// into one issue.
func TestForwardAlert(t *testing.T) {
	sink := sentrytest.New(t, sentrytest.Options{})
	tr, err := errortracking.New(errortracking.Options{DSN: sink.DSN(), Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(), Secrets: []string{"webhook-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	group := map[string]string{"alertname": "HighErrorRate", "job": "ordersvc", "severity": "critical"}
	for i, instance := range []string{"a:8080", "b:8080"} {
		tr.ForwardAlert(ordersvc.Alert{
			Fingerprint: []string{"f1", "f2"}[i], Status: "firing",
			Labels:      map[string]string{"alertname": "HighErrorRate", "job": "ordersvc", "severity": "critical", "instance": instance},
			Annotations: map[string]string{"summary": "12% of requests fail", "leak": "Bearer webhook-secret"},
			StartsAt:    time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		}, group)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := sink.WaitEvents(ctx, "event", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alertmanager", "HighErrorRate", "ordersvc", "critical"}
	for _, ev := range events {
		if !reflect.DeepEqual(ev.Fingerprint, want) {
			t.Errorf("fingerprint = %v, want %v", ev.Fingerprint, want)
		}
		if ev.Level != "error" || ev.Tags["alertname"] != "HighErrorRate" || ev.Tags["source"] != "alertmanager" {
			t.Errorf("event = level %q tags %v", ev.Level, ev.Tags)
		}
	}
	if events[0].Tags["instance"] == events[1].Tags["instance"] {
		t.Error("the two alerts should keep their own instance tags")
	}
	for _, env := range sink.Envelopes() {
		if contains(env.Raw, "webhook-secret") {
			t.Error("a secret from an annotation reached Sentry")
		}
	}
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}
