package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var _ ordersvc.AlertService = (*DB)(nil)

// maxDeliveriesKept bounds the alert_deliveries log.
const maxDeliveriesKept = 10000

// RecordAlerts implements ordersvc.AlertService. The whole notification is
// one transaction: either every alert is stored or none is, so a 2xx to
// Alertmanager always means "durably stored".
func (db *DB) RecordAlerts(ctx context.Context, n ordersvc.AlertNotification, receivedAt time.Time) ([]ordersvc.AlertChange, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, unavailable(err, "record alerts: begin")
	}
	defer func() { _ = tx.Rollback() }()
	now := receivedAt.UnixNano()
	changes := make([]ordersvc.AlertChange, 0, len(n.Alerts))
	for _, a := range n.Alerts {
		ch, err := db.recordAlert(ctx, tx, a, n.Receiver, receivedAt)
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	err = db.timed(ctx, "insert", "alert_deliveries", func() error {
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_deliveries (received_at, receiver, group_key, status, alerts, truncated_alerts)
			VALUES (?, ?, ?, ?, ?, ?)`, now, n.Receiver, n.GroupKey, n.Status, len(n.Alerts), n.TruncatedAlerts)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM alert_deliveries WHERE id <= last_insert_rowid() - ?", maxDeliveriesKept)
		return err
	})
	if err != nil {
		return nil, unavailable(err, "record alert delivery")
	}
	if err := db.commit(tx); err != nil {
		return nil, unavailable(err, "record alerts: commit")
	}
	return changes, nil
}

// recordAlert reads the stored record of a, lets the domain's merge policy
// decide, and persists the merged record: an insert for a new alert, else
// one update of the mutable columns. The read and the write share one
// write transaction (BEGIN IMMEDIATE on the single writer), so no other
// delivery of the same alert can slip between them.
func (db *DB) recordAlert(ctx context.Context, tx *sql.Tx, a ordersvc.Alert, receiver string, receivedAt time.Time) (ordersvc.AlertChange, error) {
	var stored *ordersvc.Alert
	err := db.timed(ctx, "select", "alerts", func() error {
		row, err := rowscan.Alert(tx.QueryRowContext(ctx, "SELECT "+rowscan.AlertColumns+" FROM alerts WHERE fingerprint = ? AND starts_at = ?",
			a.Fingerprint, a.StartsAt.UnixNano()))
		if err == nil {
			stored = &row
		}
		return err
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return ordersvc.AlertChange{}, unavailable(err, "read alert")
	}
	m := ordersvc.MergeAlert(stored, a, receiver, receivedAt)
	if m.Insert() {
		m.Record.Seq, err = db.insertAlert(ctx, tx, m.Record)
	} else {
		err = db.updateAlert(ctx, tx, m.Record)
	}
	if err != nil {
		return ordersvc.AlertChange{}, err
	}
	return m.Change(), nil
}

// insertAlert stores a new record and returns its Seq.
func (db *DB) insertAlert(ctx context.Context, tx *sql.Tx, r ordersvc.Alert) (int64, error) {
	labels, _ := json.Marshal(r.Labels) // map[string]string always encodes
	annotations, _ := json.Marshal(r.Annotations)
	var seq int64
	err := db.timed(ctx, "insert", "alerts", func() error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alerts (fingerprint, starts_at, status, alertname, severity, labels, annotations,
			ends_at, generator_url, receiver, first_received_at, last_received_at, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Fingerprint, r.StartsAt.UnixNano(), r.Status, r.Labels[ordersvc.AlertLabelName], r.Labels[ordersvc.AlertLabelSeverity], string(labels), string(annotations),
			rowscan.NullableTime(r.EndsAt), r.GeneratorURL, r.Receiver, r.FirstReceivedAt.UnixNano(), r.LastReceivedAt.UnixNano(), r.Deliveries)
		if err != nil {
			return err
		}
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, unavailable(err, "insert alert")
	}
	return seq, nil
}

// updateAlert writes the columns the merge policy may change; the
// identity, labels, receiver and first receipt are fixed at insert.
func (db *DB) updateAlert(ctx context.Context, tx *sql.Tx, r ordersvc.Alert) error {
	annotations, _ := json.Marshal(r.Annotations) // map[string]string always encodes
	err := db.timed(ctx, "update", "alerts", func() error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET status = ?, ends_at = ?, annotations = ?, last_received_at = ?, deliveries = ?
			WHERE fingerprint = ? AND starts_at = ?`,
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
	// Newest first by row id (insertion order), which is also the page
	// cursor: a page ends where the next one starts, whatever arrives in
	// between.
	query := "SELECT " + rowscan.AlertColumns + " FROM alerts WHERE (?1 = '' OR status = ?1) AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3"
	args := []any{f.Status, f.Before, f.PageLimit()}
	var alerts []ordersvc.Alert
	err := db.timed(ctx, "select", "alerts", func() error {
		rows, err := db.read.QueryContext(ctx, query, args...)
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

// pruneBatch bounds one retention delete, so the single writer is never
// held for long.
const pruneBatch = 1000

// DeleteResolvedAlerts implements ordersvc.AlertService, in batches.
func (db *DB) DeleteResolvedAlerts(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.timed(ctx, "delete", "alerts", func() error {
			res, err := db.write.ExecContext(ctx, `DELETE FROM alerts WHERE id IN
				(SELECT id FROM alerts WHERE status = 'resolved' AND last_received_at < ? LIMIT ?)`, cutoff.UnixNano(), pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
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
	err = db.read.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(truncated_alerts), 0) FROM alert_deliveries").Scan(&deliveries, &truncated)
	if err != nil {
		return 0, 0, fmt.Errorf("delivery stats: %w", err)
	}
	return deliveries, truncated, nil
}
