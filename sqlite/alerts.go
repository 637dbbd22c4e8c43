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
	tx, err := db.write.BeginTx(ctx, nil)
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
	if err := tx.Commit(); err != nil {
		return nil, unavailable(err, "record alerts: commit")
	}
	return changes, nil
}

func (db *DB) recordAlert(ctx context.Context, tx *sql.Tx, a ordersvc.Alert, receiver string, receivedAt time.Time) (ordersvc.AlertChange, error) {
	var stored ordersvc.Alert
	err := db.timed("select", "alerts", func() error {
		var err error
		stored, err = scanAlert(tx.QueryRowContext(ctx, "SELECT "+alertColumns+" FROM alerts WHERE fingerprint = ? AND starts_at = ?",
			a.Fingerprint, a.StartsAt.UnixNano()))
		return err
	})
	labels, _ := json.Marshal(a.Labels) // map[string]string always encodes
	annotations, _ := json.Marshal(a.Annotations)
	var endsAt any
	if a.EndsAt != nil {
		endsAt = a.EndsAt.UnixNano()
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = db.timed("insert", "alerts", func() error {
			_, err := tx.ExecContext(ctx, `INSERT INTO alerts (fingerprint, starts_at, status, alertname, severity, labels, annotations,
				ends_at, generator_url, receiver, first_received_at, last_received_at, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
				a.Fingerprint, a.StartsAt.UnixNano(), a.Status, a.Labels["alertname"], a.Labels["severity"], string(labels), string(annotations),
				endsAt, a.GeneratorURL, receiver, receivedAt.UnixNano(), receivedAt.UnixNano())
			return err
		})
		if err != nil {
			return ordersvc.AlertChange{}, unavailable(err, "insert alert")
		}
		a.Receiver, a.FirstReceivedAt, a.LastReceivedAt, a.Deliveries = receiver, receivedAt, receivedAt, 1
		return ordersvc.AlertChange{Alert: a, New: true}, nil
	case err != nil:
		return ordersvc.AlertChange{}, unavailable(err, "read alert")
	}

	// Known alert. Resolved is final for a (fingerprint, startsAt): a late
	// firing copy (say, from the slower Alertmanager of a pair) must not
	// reopen it.
	resolves := stored.Status == ordersvc.AlertFiring && a.Status == ordersvc.AlertResolved
	stored.Deliveries++
	stored.LastReceivedAt = receivedAt
	if resolves {
		stored.Status, stored.EndsAt, stored.Annotations = a.Status, a.EndsAt, a.Annotations
	}
	err = db.timed("update", "alerts", func() error {
		if resolves {
			_, err := tx.ExecContext(ctx, `UPDATE alerts SET status = ?, ends_at = ?, annotations = ?, last_received_at = ?,
				deliveries = deliveries + 1 WHERE fingerprint = ? AND starts_at = ?`,
				a.Status, endsAt, string(annotations), receivedAt.UnixNano(), a.Fingerprint, a.StartsAt.UnixNano())
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE alerts SET last_received_at = ?, deliveries = deliveries + 1 WHERE fingerprint = ? AND starts_at = ?",
			receivedAt.UnixNano(), a.Fingerprint, a.StartsAt.UnixNano())
		return err
	})
	if err != nil {
		return ordersvc.AlertChange{}, unavailable(err, "update alert")
	}
	return ordersvc.AlertChange{Alert: stored, New: resolves}, nil
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
