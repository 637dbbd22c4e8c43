package storetest

import (
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

var alertTests = []test{
	{"MergeIsPersisted", testMergeIsPersisted},
	{"ListNewestFirst", testListAlerts},
	{"OneNotificationManyAlerts", testManyAlertsInOneNotification},
	{"ConcurrentDeliveries", testConcurrentDeliveries},
	{"DeliveryLog", testDeliveryLog},
	{"PagesByCursor", testAlertPages},
	{"Retention", testAlertRetention},
}

// testAlertPages walks the list with Before cursors: every alert exactly
// once, newest first, pages of the asked size, with or without a status
// filter.
func testAlertPages(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	const total = 23
	for i := range total {
		a := firingAlert("pg"+strconv.Itoa(i), alertStart.Add(time.Duration(i)*time.Second))
		if i%2 == 0 {
			a = resolvedCopy(a, alertStart.Add(time.Hour))
		}
		_, err := s.RecordAlerts(ctx, notify(a), alertStart.Add(time.Duration(i)*time.Minute))
		mustf(t, err, "alert %d", i)
	}
	for _, status := range []string{"", ordersvc.AlertResolved} {
		want := total
		if status != "" {
			want = (total + 1) / 2
		}
		seen := map[string]bool{}
		var before, lastSeq int64
		for pages := 0; ; pages++ {
			list, err := s.Alerts(ctx, ordersvc.AlertFilter{Status: status, Limit: 5, Before: before})
			mustf(t, err, "page %d", pages)
			if len(list) == 0 {
				break
			}
			if len(list) > 5 || pages > total {
				t.Fatalf("page %d: %d alerts (limit 5)", pages, len(list))
			}
			for _, a := range list {
				if seen[a.Fingerprint] || a.Seq <= 0 || (lastSeq != 0 && a.Seq >= lastSeq) {
					t.Fatalf("status %q: %s (seq %d) repeated or out of order after seq %d", status, a.Fingerprint, a.Seq, lastSeq)
				}
				if status != "" && a.Status != status {
					t.Errorf("status %q: listed %s %s", status, a.Fingerprint, a.Status)
				}
				seen[a.Fingerprint], lastSeq = true, a.Seq
			}
			before = list[len(list)-1].Seq
		}
		if len(seen) != want {
			t.Errorf("status %q: pages reached %d alerts, want %d", status, len(seen), want)
		}
	}
}

// testAlertRetention: DeleteResolvedAlerts removes resolved records last
// delivered before the cutoff, and nothing else.
func testAlertRetention(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	old := resolvedCopy(firingAlert("old", alertStart), alertStart.Add(time.Minute))
	recent := resolvedCopy(firingAlert("recent", alertStart), alertStart.Add(time.Minute))
	firing := firingAlert("firing", alertStart)
	for _, d := range []struct {
		a  ordersvc.Alert
		at time.Time
	}{{old, alertStart.Add(time.Hour)}, {recent, alertStart.Add(48 * time.Hour)}, {firing, alertStart.Add(time.Hour)}} {
		_, err := s.RecordAlerts(ctx, notify(d.a), d.at)
		mustf(t, err, "record %s", d.a.Fingerprint)
	}
	n, err := s.DeleteResolvedAlerts(ctx, alertStart.Add(24*time.Hour))
	mustf(t, err, "delete")
	if n != 1 {
		t.Errorf("deleted %d, want 1 (old)", n)
	}
	list, err := s.Alerts(ctx, ordersvc.AlertFilter{Limit: 10})
	mustf(t, err, "list")
	var names []string
	for _, a := range list {
		names = append(names, a.Fingerprint)
	}
	if len(names) != 2 || names[0] == "old" || names[1] == "old" {
		t.Errorf("left %v, want recent and firing", names)
	}
}

var alertStart = time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)

func firingAlert(fingerprint string, startsAt time.Time) ordersvc.Alert {
	return ordersvc.Alert{
		Fingerprint: fingerprint, Status: ordersvc.AlertFiring, StartsAt: startsAt, GeneratorURL: "http://prom/graph",
		Labels:      map[string]string{"alertname": "HighErrorRate", "severity": "critical", "job": "ordersvc"},
		Annotations: map[string]string{"summary": "firing"},
	}
}

func resolvedCopy(a ordersvc.Alert, endsAt time.Time) ordersvc.Alert {
	a.Status, a.EndsAt = ordersvc.AlertResolved, &endsAt
	a.Annotations = map[string]string{"summary": "resolved"}
	return a
}

func notify(alerts ...ordersvc.Alert) ordersvc.AlertNotification {
	return ordersvc.AlertNotification{Receiver: "paging", Status: alerts[0].Status, GroupKey: `{}:{alertname="HighErrorRate"}`, Alerts: alerts}
}

// testMergeIsPersisted checks that what RecordAlerts reports (the merge
// policy's record) is exactly what a later read returns, for each outcome
// of ordersvc.MergeAlert.
func testMergeIsPersisted(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	firing := firingAlert("a1b2c3", alertStart)
	resolved := resolvedCopy(firing, alertStart.Add(5*time.Minute+7))

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
		at := alertStart.Add(time.Duration(i+1)*time.Minute + time.Duration(i)) // nanoseconds survive
		changes, err := s.RecordAlerts(ctx, notify(st.alert), at)
		mustf(t, err, "%s", st.name)
		if len(changes) != 1 {
			t.Fatalf("%s: %d changes, want 1", st.name, len(changes))
		}
		ch := changes[0]
		if ch.New != st.isNew || ch.Alert.Status != st.status || ch.Alert.Deliveries != st.deliveries ||
			ch.Alert.Annotations["summary"] != st.annotations || !ch.Alert.LastReceivedAt.Equal(at) {
			t.Errorf("%s: change = %+v", st.name, ch)
		}
		want := ordersvc.MergeAlert(nil, st.alert, "paging", at).Change()
		want.Alert.Seq = ch.Alert.Seq // the store's position, which the policy does not know
		if i == 0 && (ch.Alert.Seq <= 0 || !reflect.DeepEqual(ch, want)) {
			t.Errorf("%s: change\n  %+v\nwant the merge policy's, with a positive Seq\n  %+v", st.name, ch, want)
		}
		list, err := s.Alerts(ctx, ordersvc.AlertFilter{Limit: 10})
		mustf(t, err, "%s: list", st.name)
		if len(list) != 1 {
			t.Fatalf("%s: %d records, want 1", st.name, len(list))
		}
		if !reflect.DeepEqual(list[0], ch.Alert) {
			t.Errorf("%s: stored\n  %+v\nreported\n  %+v", st.name, list[0], ch.Alert)
		}
		if list[0].Receiver != "paging" || !list[0].FirstReceivedAt.Equal(alertStart.Add(time.Minute)) || !list[0].StartsAt.Equal(alertStart) {
			t.Errorf("%s: identity or first receipt changed: %+v", st.name, list[0])
		}
	}
}

// testListAlerts checks the listing: newest first receipt first, the status
// filter, the limit and the default limit.
func testListAlerts(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	const total = ordersvc.DefaultAlertListLimit + 5
	for i := range total {
		a := firingAlert("fp"+strconv.Itoa(i), alertStart.Add(time.Duration(i)*time.Second))
		_, err := s.RecordAlerts(ctx, notify(a), alertStart.Add(time.Duration(i)*time.Minute))
		mustf(t, err, "alert %d", i)
	}
	// Resolve every third alert; resolving does not reorder the list.
	resolved := map[string]bool{}
	for i := 0; i < total; i += 3 {
		a := firingAlert("fp"+strconv.Itoa(i), alertStart.Add(time.Duration(i)*time.Second))
		_, err := s.RecordAlerts(ctx, notify(resolvedCopy(a, alertStart.Add(time.Hour))), alertStart.Add(1000*time.Minute))
		mustf(t, err, "resolve %d", i)
		resolved["fp"+strconv.Itoa(i)] = true
	}
	for _, tc := range []struct {
		filter ordersvc.AlertFilter
		want   int
	}{
		{ordersvc.AlertFilter{Limit: 10}, 10},
		{ordersvc.AlertFilter{}, ordersvc.DefaultAlertListLimit},
		{ordersvc.AlertFilter{Limit: ordersvc.MaxAlertListLimit + 100}, total}, // clamped to a page and one more
		{ordersvc.AlertFilter{Limit: ordersvc.MaxAlertListLimit}, total},
		{ordersvc.AlertFilter{Status: ordersvc.AlertResolved, Limit: ordersvc.MaxAlertListLimit}, len(resolved)},
		{ordersvc.AlertFilter{Status: ordersvc.AlertFiring, Limit: ordersvc.MaxAlertListLimit}, total - len(resolved)},
		{ordersvc.AlertFilter{Status: ordersvc.AlertFiring, Limit: 3}, 3},
	} {
		list, err := s.Alerts(ctx, tc.filter)
		mustf(t, err, "list %+v", tc.filter)
		if len(list) != tc.want {
			t.Errorf("list %+v: %d alerts, want %d", tc.filter, len(list), tc.want)
		}
		for i, a := range list {
			if tc.filter.Status != "" && a.Status != tc.filter.Status {
				t.Errorf("list %+v: alert %s is %s", tc.filter, a.Fingerprint, a.Status)
			}
			if resolved[a.Fingerprint] != (a.Status == ordersvc.AlertResolved) {
				t.Errorf("list %+v: alert %s has status %s", tc.filter, a.Fingerprint, a.Status)
			}
			if i > 0 && !a.FirstReceivedAt.Before(list[i-1].FirstReceivedAt) {
				t.Errorf("list %+v: %s (first received %v) after %s (%v): want newest first", tc.filter,
					a.Fingerprint, a.FirstReceivedAt, list[i-1].Fingerprint, list[i-1].FirstReceivedAt)
			}
		}
	}
	empty := openDefault(t, open)
	if list, err := empty.Alerts(ctx, ordersvc.AlertFilter{Limit: 10}); err != nil || list == nil || len(list) != 0 {
		t.Errorf("no alerts: %#v, %v; want an empty, non-nil list", list, err)
	}
}

// testManyAlertsInOneNotification: the changes come back in the order of
// the notification's alerts, and one alert twice in one notification is
// one record delivered twice.
func testManyAlertsInOneNotification(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	z, a := firingAlert("zz", alertStart), firingAlert("aa", alertStart)
	later := firingAlert("aa", alertStart.Add(time.Hour)) // the same alert firing again: a new record
	n := notify(z, a, later, resolvedCopy(z, alertStart.Add(time.Minute)))
	changes, err := s.RecordAlerts(ctx, n, alertStart.Add(2*time.Hour))
	mustf(t, err, "record")
	type summary struct {
		fingerprint string
		startsAt    time.Time
		status      string
		new         bool
		deliveries  int64
	}
	var got []summary
	for _, ch := range changes {
		got = append(got, summary{ch.Alert.Fingerprint, ch.Alert.StartsAt, ch.Alert.Status, ch.New, ch.Alert.Deliveries})
	}
	want := []summary{
		{"zz", alertStart, ordersvc.AlertFiring, true, 1},
		{"aa", alertStart, ordersvc.AlertFiring, true, 1},
		{"aa", alertStart.Add(time.Hour), ordersvc.AlertFiring, true, 1},
		{"zz", alertStart, ordersvc.AlertResolved, true, 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes\n  %+v\nwant\n  %+v", got, want)
	}
	list, err := s.Alerts(ctx, ordersvc.AlertFilter{Limit: 10})
	mustf(t, err, "list")
	if len(list) != 3 {
		t.Errorf("%d records, want 3: %+v", len(list), list)
	}
}

// testConcurrentDeliveries delivers one notification from many goroutines
// at once (clustered Alertmanagers, several replicas): one record, every
// delivery counted, exactly one change reported as new.
func testConcurrentDeliveries(t *testing.T, open Opener) {
	const deliveries = 10
	s := openDefault(t, open)
	ctx := ctxFor(t)
	n := notify(firingAlert("x1", alertStart), firingAlert("x2", alertStart))
	var newChanges, failures atomic.Int64
	var firstErr atomic.Value
	parallel(deliveries, func(i int) {
		changes, err := s.RecordAlerts(ctx, n, alertStart.Add(time.Duration(i+1)*time.Second))
		if err != nil {
			failures.Add(1)
			firstErr.CompareAndSwap(nil, firstLine(err))
			return
		}
		for _, ch := range changes {
			if ch.New {
				newChanges.Add(1)
			}
		}
	})
	if failures.Load() != 0 {
		t.Fatalf("%d of %d concurrent deliveries failed; first: %v", failures.Load(), deliveries, firstErr.Load())
	}
	if newChanges.Load() != 2 {
		t.Errorf("%d changes reported as new, want 2 (one per alert)", newChanges.Load())
	}
	list, err := s.Alerts(ctx, ordersvc.AlertFilter{Limit: 10})
	mustf(t, err, "list")
	if len(list) != 2 {
		t.Fatalf("%d records, want 2", len(list))
	}
	for _, a := range list {
		if a.Deliveries != deliveries {
			t.Errorf("%s: %d deliveries counted, want %d", a.Fingerprint, a.Deliveries, deliveries)
		}
	}
}

// testDeliveryLog checks the delivery log a store keeps for diagnostics,
// when it has one.
func testDeliveryLog(t *testing.T, open Opener) {
	s := openDefault(t, open)
	stats, ok := s.(DeliveryStatser)
	if !ok {
		t.Skip("the store keeps no delivery log")
	}
	ctx := ctxFor(t)
	for i, truncated := range []int{0, 3, 4} {
		n := notify(firingAlert("d"+strconv.Itoa(i), alertStart))
		n.TruncatedAlerts = truncated
		_, err := s.RecordAlerts(ctx, n, alertStart)
		mustf(t, err, "delivery %d", i)
	}
	deliveries, truncated, err := stats.DeliveryStats(ctx)
	if err != nil || deliveries != 3 || truncated != 7 {
		t.Errorf("delivery stats = %d, %d, %v; want 3, 7", deliveries, truncated, err)
	}
}
