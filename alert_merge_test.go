package ordersvc

import (
	"reflect"
	"testing"
	"time"
)

func TestMergeAlert(t *testing.T) {
	starts := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	first := starts.Add(30 * time.Second)
	now := starts.Add(5 * time.Minute)
	ends := starts.Add(4 * time.Minute)
	otherEnds := starts.Add(6 * time.Minute)

	firingIn := Alert{
		Fingerprint: "a1b2", Status: AlertFiring, StartsAt: starts, GeneratorURL: "http://prom/new",
		Labels:      map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		Annotations: map[string]string{"summary": "firing now"},
	}
	resolvedIn := firingIn
	resolvedIn.Status, resolvedIn.EndsAt = AlertResolved, &ends
	resolvedIn.Annotations = map[string]string{"summary": "resolved now"}
	resolvedIn.Labels = map[string]string{"alertname": "HighErrorRate", "severity": "critical", "extra": "x"}

	storedFiring := Alert{
		Fingerprint: "a1b2", Status: AlertFiring, StartsAt: starts, GeneratorURL: "http://prom/old",
		Labels:      map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		Annotations: map[string]string{"summary": "first seen"},
		Receiver:    "paging", FirstReceivedAt: first, LastReceivedAt: first, Deliveries: 2,
	}
	storedResolved := storedFiring
	storedResolved.Status, storedResolved.EndsAt = AlertResolved, &otherEnds

	// with applies changes to a copy of a.
	with := func(a Alert, change func(*Alert)) Alert { change(&a); return a }

	tests := []struct {
		name     string
		stored   *Alert
		incoming Alert
		want     Alert
		outcome  MergeOutcome
		isNew    bool
	}{
		{
			name: "first firing delivery creates the record", stored: nil, incoming: firingIn,
			want: with(firingIn, func(a *Alert) {
				a.Receiver, a.FirstReceivedAt, a.LastReceivedAt, a.Deliveries = "ticket", now, now, 1
			}),
			outcome: MergeCreated, isNew: true,
		},
		{
			name: "first delivery already resolved creates a resolved record", stored: nil, incoming: resolvedIn,
			want: with(resolvedIn, func(a *Alert) {
				a.Receiver, a.FirstReceivedAt, a.LastReceivedAt, a.Deliveries = "ticket", now, now, 1
			}),
			outcome: MergeCreated, isNew: true,
		},
		{
			name: "firing again is a duplicate: only the delivery counts", stored: &storedFiring, incoming: firingIn,
			want:    with(storedFiring, func(a *Alert) { a.LastReceivedAt, a.Deliveries = now, 3 }),
			outcome: MergeDuplicate, isNew: false,
		},
		{
			name: "resolved on a firing record resolves it, keeping labels, receiver and URL", stored: &storedFiring, incoming: resolvedIn,
			want: with(storedFiring, func(a *Alert) {
				a.Status, a.EndsAt, a.Annotations = AlertResolved, &ends, resolvedIn.Annotations
				a.LastReceivedAt, a.Deliveries = now, 3
			}),
			outcome: MergeResolved, isNew: true,
		},
		{
			name: "resolved again is a duplicate: the first end stays", stored: &storedResolved, incoming: resolvedIn,
			want:    with(storedResolved, func(a *Alert) { a.LastReceivedAt, a.Deliveries = now, 3 }),
			outcome: MergeDuplicate, isNew: false,
		},
		{
			name: "late firing copy does not reopen a resolved record", stored: &storedResolved, incoming: firingIn,
			want:    with(storedResolved, func(a *Alert) { a.LastReceivedAt, a.Deliveries = now, 3 }),
			outcome: MergeLateFiring, isNew: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before Alert
			if tt.stored != nil {
				before = *tt.stored
			}
			m := MergeAlert(tt.stored, tt.incoming, "ticket", now)
			if m.Outcome != tt.outcome {
				t.Errorf("outcome = %v, want %v", m.Outcome, tt.outcome)
			}
			if m.New() != tt.isNew || m.Change().New != tt.isNew {
				t.Errorf("New() = %v, Change().New = %v, want %v", m.New(), m.Change().New, tt.isNew)
			}
			if m.Insert() != (tt.stored == nil) {
				t.Errorf("Insert() = %v with stored %v", m.Insert(), tt.stored != nil)
			}
			if !reflect.DeepEqual(m.Record, tt.want) {
				t.Errorf("record =\n  %+v\nwant\n  %+v", m.Record, tt.want)
			}
			if !reflect.DeepEqual(m.Change().Alert, m.Record) {
				t.Errorf("Change().Alert = %+v, want the record", m.Change().Alert)
			}
			if tt.stored != nil && !reflect.DeepEqual(*tt.stored, before) {
				t.Errorf("MergeAlert modified the stored record: %+v", *tt.stored)
			}
		})
	}
}

func TestMergeOutcomeString(t *testing.T) {
	tests := []struct {
		o    MergeOutcome
		want string
	}{
		{MergeCreated, "created"}, {MergeResolved, "resolved"}, {MergeDuplicate, "duplicate"},
		{MergeLateFiring, "late_firing"}, {0, "invalid"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("MergeOutcome(%d).String() = %q, want %q", int(tt.o), got, tt.want)
		}
	}
}
