package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ordersvc/ordersvc"
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
	err = db.timed("insert", "alert_deliveries", func() error {
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
	err := db.timed("select", "alerts", func() error {
		row, err := scanAlert(tx.QueryRowContext(ctx, "SELECT "+alertColumns+" FROM alerts WHERE fingerprint = ? AND starts_at = ?",
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
		err = db.insertAlert(ctx, tx, m.Record)
	} else {
		err = db.updateAlert(ctx, tx, m.Record)
	}
	if err != nil {
		return ordersvc.AlertChange{}, err
	}
	return m.Change(), nil
}

func (db *DB) insertAlert(ctx context.Context, tx *sql.Tx, r ordersvc.Alert) error {
	labels, _ := json.Marshal(r.Labels) // map[string]string always encodes
	annotations, _ := json.Marshal(r.Annotations)
	err := db.timed("insert", "alerts", func() error {
		_, err := tx.ExecContext(ctx, `INSERT INTO alerts (fingerprint, starts_at, status, alertname, severity, labels, annotations,
			ends_at, generator_url, receiver, first_received_at, last_received_at, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Fingerprint, r.StartsAt.UnixNano(), r.Status, r.Labels[ordersvc.AlertLabelName], r.Labels[ordersvc.AlertLabelSeverity], string(labels), string(annotations),
			nullableTime(r.EndsAt), r.GeneratorURL, r.Receiver, r.FirstReceivedAt.UnixNano(), r.LastReceivedAt.UnixNano(), r.Deliveries)
		return err
	})
	if err != nil {
		return unavailable(err, "insert alert")
	}
	return nil
}

// updateAlert writes the columns the merge policy may change; the
// identity, labels, receiver and first receipt are fixed at insert.
func (db *DB) updateAlert(ctx context.Context, tx *sql.Tx, r ordersvc.Alert) error {
	annotations, _ := json.Marshal(r.Annotations) // map[string]string always encodes
	err := db.timed("update", "alerts", func() error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET status = ?, ends_at = ?, annotations = ?, last_received_at = ?, deliveries = ?
			WHERE fingerprint = ? AND starts_at = ?`,
			r.Status, nullableTime(r.EndsAt), string(annotations), r.LastReceivedAt.UnixNano(), r.Deliveries,
			r.Fingerprint, r.StartsAt.UnixNano())
		return err
	})
	if err != nil {
		return unavailable(err, "update alert")
	}
	return nil
}

// nullableTime stores an optional time as Unix nanoseconds or NULL.
func nullableTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

const alertColumns = "fingerprint, starts_at, status, labels, annotations, ends_at, generator_url, receiver, first_received_at, last_received_at, deliveries"

func scanAlert(row interface{ Scan(...any) error }) (ordersvc.Alert, error) {
	var a ordersvc.Alert
	var startsAt, first, last int64
	var endsAt sql.NullInt64
	var labels, annotations string
	if err := row.Scan(&a.Fingerprint, &startsAt, &a.Status, &labels, &annotations, &endsAt, &a.GeneratorURL, &a.Receiver,
		&first, &last, &a.Deliveries); err != nil {
		return ordersvc.Alert{}, err
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return ordersvc.Alert{}, fmt.Errorf("alert labels: %w", err)
	}
	if err := json.Unmarshal([]byte(annotations), &a.Annotations); err != nil {
		return ordersvc.Alert{}, fmt.Errorf("alert annotations: %w", err)
	}
	a.StartsAt = time.Unix(0, startsAt).UTC()
	if endsAt.Valid {
		t := time.Unix(0, endsAt.Int64).UTC()
		a.EndsAt = &t
	}
	a.FirstReceivedAt = time.Unix(0, first).UTC()
	a.LastReceivedAt = time.Unix(0, last).UTC()
	return a, nil
}

// Alerts implements ordersvc.AlertService.
func (db *DB) Alerts(ctx context.Context, f ordersvc.AlertFilter) ([]ordersvc.Alert, error) {
	if f.Limit <= 0 || f.Limit > ordersvc.MaxAlertListLimit {
		f.Limit = ordersvc.DefaultAlertListLimit
	}
	query := "SELECT " + alertColumns + " FROM alerts"
	args := []any{}
	if f.Status != "" {
		query += " WHERE status = ?"
		args = append(args, f.Status)
	}
	query += " ORDER BY first_received_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	alerts := []ordersvc.Alert{}
	err := db.timed("select", "alerts", func() error {
		rows, err := db.read.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return err
			}
			alerts = append(alerts, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable(err, "list alerts")
	}
	return alerts, nil
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
