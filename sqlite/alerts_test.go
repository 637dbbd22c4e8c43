package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

// TestRecordAlertsPersistsTheMerge checks that what RecordAlerts reports
// (the merge policy's record) is exactly what a later read returns, for
// each outcome of ordersvc.MergeAlert.
func TestRecordAlertsPersistsTheMerge(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	starts := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)
	ends := starts.Add(5 * time.Minute)
	firing := ordersvc.Alert{
		Fingerprint: "a1b2c3", Status: ordersvc.AlertFiring, StartsAt: starts, GeneratorURL: "http://prom/graph",
		Labels:      map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		Annotations: map[string]string{"summary": "firing"},
	}
	resolved := firing
	resolved.Status, resolved.EndsAt = ordersvc.AlertResolved, &ends
	resolved.Annotations = map[string]string{"summary": "resolved"}

	steps := []struct {
		name        string
		alert       ordersvc.Alert
		isNew       bool
		status      string
		deliveries  int64
		annotations string
	}{
		{"first firing", firing, true, ordersvc.AlertFiring, 1, "firing"},
		{"duplicate firing", firing, false, ordersvc.AlertFiring, 2, "firing"},
		{"resolved", resolved, true, ordersvc.AlertResolved, 3, "resolved"},
		{"duplicate resolved", resolved, false, ordersvc.AlertResolved, 4, "resolved"},
		{"late firing copy", firing, false, ordersvc.AlertResolved, 5, "resolved"},
	}
	for i, st := range steps {
		at := starts.Add(time.Duration(i+1) * time.Minute)
		n := ordersvc.AlertNotification{Receiver: "paging", Status: st.alert.Status, GroupKey: "{}", Alerts: []ordersvc.Alert{st.alert}}
		changes, err := db.RecordAlerts(ctx, n, at)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(changes) != 1 {
			t.Fatalf("%s: %d changes, want 1", st.name, len(changes))
		}
		ch := changes[0]
		if ch.New != st.isNew || ch.Alert.Status != st.status || ch.Alert.Deliveries != st.deliveries ||
			ch.Alert.Annotations["summary"] != st.annotations || !ch.Alert.LastReceivedAt.Equal(at) {
			t.Errorf("%s: change = %+v", st.name, ch)
		}
		list, err := db.Alerts(ctx, ordersvc.AlertFilter{Limit: 10})
		if err != nil {
			t.Fatalf("%s: list: %v", st.name, err)
		}
		if len(list) != 1 {
			t.Fatalf("%s: %d records, want 1", st.name, len(list))
		}
		if !reflect.DeepEqual(list[0], ch.Alert) {
			t.Errorf("%s: stored\n  %+v\nreported\n  %+v", st.name, list[0], ch.Alert)
		}
	}
}
