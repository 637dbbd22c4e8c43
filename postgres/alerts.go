package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var _ ordersvc.AlertService = (*DB)(nil)

// maxDeliveriesKept bounds the alert_deliveries log, as in package sqlite.
const maxDeliveriesKept = 10000

// RecordAlerts implements ordersvc.AlertService. The whole notification is
// one transaction: either every alert is stored or none is, so a 2xx to
// Alertmanager always means "durably stored". Each alert's row is locked
// (SELECT … FOR UPDATE, or claimed by INSERT … ON CONFLICT DO NOTHING)
// before the domain's merge policy decides, so two replicas receiving the
// same alert from two Alertmanagers merge one after the other. Rows are
// locked in (fingerprint, startsAt) order, so notifications sharing alerts
// cannot deadlock each other; the changes are returned in the order of
// n.Alerts.
func (db *DB) RecordAlerts(ctx context.Context, n ordersvc.AlertNotification, receivedAt time.Time) ([]ordersvc.AlertChange, error) {
	if err := checkNotificationText(n); err != nil {
		return nil, err
	}
	order := make([]int, len(n.Alerts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := n.Alerts[order[i]], n.Alerts[order[j]]
		if a.Fingerprint != b.Fingerprint {
			return a.Fingerprint < b.Fingerprint
		}
		return a.StartsAt.Before(b.StartsAt)
	})
	var changes []ordersvc.AlertChange
	err := db.inTx(ctx, "record alerts", func(tx pgx.Tx) error {
		changes = make([]ordersvc.AlertChange, len(n.Alerts))
		for _, i := range order {
			ch, err := db.recordAlert(ctx, tx, n.Alerts[i], n.Receiver, receivedAt)
			if err != nil {
				return err
			}
			changes[i] = ch
		}
		err := db.timed(ctx, "insert", "alert_deliveries", func() error {
			var id int64
			err := tx.QueryRow(ctx, `INSERT INTO alert_deliveries (received_at, receiver, group_key, status, alerts, truncated_alerts)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
				receivedAt, n.Receiver, n.GroupKey, n.Status, len(n.Alerts), n.TruncatedAlerts).Scan(&id)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "DELETE FROM alert_deliveries WHERE id <= $1", id-maxDeliveriesKept)
			return err
		})
		if err != nil {
			return unavailable(err, "record alert delivery")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// checkNotificationText refuses text PostgreSQL cannot store (NUL) in the
// columns kept as plain text; labels and annotations are JSON, where a NUL
// is escaped and fine.
func checkNotificationText(n ordersvc.AlertNotification) error {
	if hasNUL(n.Receiver, n.GroupKey, n.Status) {
		return ordersvc.Errorf(ordersvc.KindInvalid, "the notification's receiver, groupKey and status must not contain NUL characters")
	}
	for _, a := range n.Alerts {
		if hasNUL(a.Fingerprint, a.Status, a.GeneratorURL, a.Labels[ordersvc.AlertLabelName], a.Labels[ordersvc.AlertLabelSeverity]) {
			return ordersvc.Errorf(ordersvc.KindInvalid, "an alert's fingerprint, status, generatorURL, alertname and severity must not contain NUL characters")
		}
	}
	return nil
}

// recordAlert locks the stored record of a (claiming it with an insert
// when there is none), lets the domain's merge policy decide, and
// persists the merged record.
func (db *DB) recordAlert(ctx context.Context, tx pgx.Tx, a ordersvc.Alert, receiver string, receivedAt time.Time) (ordersvc.AlertChange, error) {
	stored, err := db.lockAlert(ctx, tx, a)
	if err != nil {
		return ordersvc.AlertChange{}, err
	}
	if stored == nil {
		m := ordersvc.MergeAlert(nil, a, receiver, receivedAt)
		seq, inserted, err := db.insertAlert(ctx, tx, m.Record)
		if err != nil {
			return ordersvc.AlertChange{}, err
		}
		if inserted {
			m.Record.Seq = seq
			return m.Change(), nil
		}
		// Another delivery of the alert committed its insert while this one
		// was deciding: merge onto that record instead.
		if stored, err = db.lockAlert(ctx, tx, a); err != nil {
			return ordersvc.AlertChange{}, err
		}
		if stored == nil {
			return ordersvc.AlertChange{}, unavailable(errors.New("the alert's record is taken but not visible"), "record alert")
		}
	}
	m := ordersvc.MergeAlert(stored, a, receiver, receivedAt)
	if err := db.updateAlert(ctx, tx, m.Record); err != nil {
		return ordersvc.AlertChange{}, err
	}
	return m.Change(), nil
}

// lockAlert reads and locks the stored record of a's (fingerprint,
// startsAt), or returns nil when there is none.
func (db *DB) lockAlert(ctx context.Context, tx pgx.Tx, a ordersvc.Alert) (*ordersvc.Alert, error) {
	var stored *ordersvc.Alert
	err := db.timed(ctx, "select", "alerts", func() error {
		row, err := rowscan.Alert(tx.QueryRow(ctx, "SELECT "+rowscan.AlertColumns+" FROM alerts WHERE fingerprint = $1 AND starts_at = $2 FOR UPDATE",
			a.Fingerprint, a.StartsAt.UnixNano()))
		if err == nil {
			stored = &row
		}
		return err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, unavailable(err, "read alert")
	}
	return stored, nil
}

// insertAlert inserts a new record and returns its Seq, or inserted false
// when a concurrent transaction inserted the same (fingerprint, startsAt)
// and committed (the insert waits for it to end).
func (db *DB) insertAlert(ctx context.Context, tx pgx.Tx, r ordersvc.Alert) (seq int64, inserted bool, err error) {
	labels, _ := json.Marshal(r.Labels) // map[string]string always encodes
	annotations, _ := json.Marshal(r.Annotations)
	err = db.timed(ctx, "insert", "alerts", func() error {
		err := tx.QueryRow(ctx, `INSERT INTO alerts (fingerprint, starts_at, status, alertname, severity, labels, annotations,
			ends_at, generator_url, receiver, first_received_at, last_received_at, deliveries)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id`,
			r.Fingerprint, r.StartsAt.UnixNano(), r.Status, r.Labels[ordersvc.AlertLabelName], r.Labels[ordersvc.AlertLabelSeverity],
			string(labels), string(annotations), rowscan.NullableTime(r.EndsAt), r.GeneratorURL, r.Receiver,
			r.FirstReceivedAt.UnixNano(), r.LastReceivedAt.UnixNano(), r.Deliveries).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the conflict: nothing inserted
		}
		inserted = err == nil
		return err
	})
	if err != nil {
		return 0, false, unavailable(err, "insert alert")
	}
	return seq, inserted, nil
}

// updateAlert writes the columns the merge policy may change; the
// identity, labels, receiver and first receipt are fixed at insert.
func (db *DB) updateAlert(ctx context.Context, tx pgx.Tx, r ordersvc.Alert) error {
	annotations, _ := json.Marshal(r.Annotations) // map[string]string always encodes
	err := db.timed(ctx, "update", "alerts", func() error {
		_, err := tx.Exec(ctx, `UPDATE alerts SET status = $1, ends_at = $2, annotations = $3, last_received_at = $4, deliveries = $5
			WHERE fingerprint = $6 AND starts_at = $7`,
			r.Status, rowscan.NullableTime(r.EndsAt), string(annotations), r.LastReceivedAt.UnixNano(), r.Deliveries,
			r.Fingerprint, r.StartsAt.UnixNano())
		return err
	})
	if err != nil {
		return unavailable(err, "update alert")
	}
	return nil
}

// Alerts implements ordersvc.AlertService.
func (db *DB) Alerts(ctx context.Context, f ordersvc.AlertFilter) ([]ordersvc.Alert, error) {
	// Newest first by id, which is also the page cursor.
	query := "SELECT " + rowscan.AlertColumns + " FROM alerts WHERE ($1 = '' OR status = $1) AND ($2 <= 0 OR id < $2) ORDER BY id DESC LIMIT $3"
	args := []any{f.Status, f.Before, f.PageLimit()}
	var alerts []ordersvc.Alert
	err := db.timed(ctx, "select", "alerts", func() error {
		rows, err := db.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		alerts, err = rowscan.All(rows, rowscan.Alert)
		return err
	})
	if err != nil {
		return nil, unavailable(err, "list alerts")
	}
	return alerts, nil
}

// pruneBatch bounds one retention delete, so no transaction holds many
// row locks for long.
const pruneBatch = 1000

// DeleteResolvedAlerts implements ordersvc.AlertService, in batches.
func (db *DB) DeleteResolvedAlerts(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.timed(ctx, "delete", "alerts", func() error {
			tag, err := db.pool.Exec(ctx, `DELETE FROM alerts WHERE id IN
				(SELECT id FROM alerts WHERE status = 'resolved' AND last_received_at < $1 LIMIT $2)`, cutoff.UnixNano(), pruneBatch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, unavailable(err, "delete resolved alerts")
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// DeliveryStats reports how many webhook deliveries were logged and how
// many alerts Alertmanager truncated in them, for tests and diagnostics.
func (db *DB) DeliveryStats(ctx context.Context) (deliveries, truncated int64, err error) {
	err = db.pool.QueryRow(ctx, "SELECT count(*), coalesce(sum(truncated_alerts), 0)::bigint FROM alert_deliveries").Scan(&deliveries, &truncated)
	if err != nil {
		return 0, 0, fmt.Errorf("delivery stats: %w", err)
	}
	return deliveries, truncated, nil
}
