package ordersvc

import "time"

// MergeOutcome says what one delivery of an alert did to its record.
type MergeOutcome int

// The merge outcomes. The zero value is not a valid outcome.
const (
	// MergeCreated: no record of (fingerprint, startsAt) existed; the
	// delivery becomes a new record, to insert.
	MergeCreated MergeOutcome = iota + 1
	// MergeResolved: a firing record is now resolved; its status, end and
	// annotations change.
	MergeResolved
	// MergeDuplicate: the record already has this status (a retry, or the
	// second Alertmanager of a cluster); only the delivery is counted.
	MergeDuplicate
	// MergeLateFiring: a firing copy of an already resolved record (say,
	// from the slower Alertmanager of a pair). Resolved is final, so the
	// copy is ignored except for counting the delivery.
	MergeLateFiring
)

// String returns the outcome's name, used in logs and test failures.
func (o MergeOutcome) String() string {
	switch o {
	case MergeCreated:
		return "created"
	case MergeResolved:
		return "resolved"
	case MergeDuplicate:
		return "duplicate"
	case MergeLateFiring:
		return "late_firing"
	default:
		return "invalid"
	}
}

// AlertMerge is the result of merging one delivered alert into what the
// store holds: the record to persist and what happened.
type AlertMerge struct {
	// Record is the whole record as it must be stored: inserted when
	// Outcome is MergeCreated, else written over the stored one.
	Record  Alert
	Outcome MergeOutcome
}

// Insert reports whether Record is a new record (insert) rather than an
// update of the stored one.
func (m AlertMerge) Insert() bool { return m.Outcome == MergeCreated }

// New reports whether the delivery brought a state the store had not seen:
// a new alert, or a firing alert now resolved. Only new changes are counted
// and forwarded.
func (m AlertMerge) New() bool {
	return m.Outcome == MergeCreated || m.Outcome == MergeResolved
}

// Change returns what recording the alert did, as AlertService reports it.
func (m AlertMerge) Change() AlertChange {
	return AlertChange{Alert: m.Record, New: m.New()}
}

// MergeAlert is the webhook's deduplication policy, shared by every store.
// stored is the record already kept for incoming's (Fingerprint, StartsAt),
// or nil when there is none; receiver is the notification's receiver and
// receivedAt the time of this delivery. It is a pure function: stored and
// incoming are not modified, though the result shares their label and
// annotation maps.
//
// The rules: a first delivery creates the record (receiver, first and last
// receipt, one delivery). Every later delivery counts one more delivery and
// moves the last receipt. A resolved delivery of a firing record resolves
// it, taking the delivery's end and annotations; labels, receiver and
// generator URL stay as first seen. Resolved is final: a firing delivery
// of a resolved record changes nothing else.
func MergeAlert(stored *Alert, incoming Alert, receiver string, receivedAt time.Time) AlertMerge {
	if stored == nil {
		rec := incoming
		rec.Receiver = receiver
		rec.FirstReceivedAt, rec.LastReceivedAt = receivedAt, receivedAt
		rec.Deliveries = 1
		return AlertMerge{Record: rec, Outcome: MergeCreated}
	}
	rec := *stored
	rec.Deliveries++
	rec.LastReceivedAt = receivedAt
	switch {
	case rec.Status == AlertFiring && incoming.Status == AlertResolved:
		rec.Status, rec.EndsAt, rec.Annotations = incoming.Status, incoming.EndsAt, incoming.Annotations
		return AlertMerge{Record: rec, Outcome: MergeResolved}
	case rec.Status == AlertResolved && incoming.Status == AlertFiring:
		return AlertMerge{Record: rec, Outcome: MergeLateFiring}
	default:
		return AlertMerge{Record: rec, Outcome: MergeDuplicate}
	}
}
