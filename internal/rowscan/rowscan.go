// Package rowscan decodes the rows both SQL stores read into domain
// values, once: the SQLite store (database/sql) and the PostgreSQL store
// (pgx) share their schemas' column shapes, and both drivers' rows have
// Next, Scan and Err, so how a row becomes an Alert, a Product, a
// Heartbeat or the order totals is written here and nowhere else.
//
// Nullable integer columns are scanned into *int64, which both drivers
// set to nil for NULL.
package rowscan

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ordersvc/ordersvc"
)

// Row is one row (sql.Row, pgx.Row).
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set (*sql.Rows, pgx.Rows).
type Rows interface {
	Row
	Next() bool
	Err() error
}

// All decodes every row with scan.
func All[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// AlertColumns are the columns Alert reads, in order.
const AlertColumns = "id, fingerprint, starts_at, status, labels, annotations, ends_at, generator_url, receiver, first_received_at, last_received_at, deliveries"

// Alert decodes AlertColumns: times are Unix nanoseconds, labels and
// annotations JSON text.
func Alert(row Row) (ordersvc.Alert, error) {
	var a ordersvc.Alert
	var startsAt, first, last int64
	var endsAt *int64
	var labels, annotations string
	if err := row.Scan(&a.Seq, &a.Fingerprint, &startsAt, &a.Status, &labels, &annotations, &endsAt, &a.GeneratorURL, &a.Receiver,
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
	a.EndsAt = TimeOrNil(endsAt)
	a.FirstReceivedAt = time.Unix(0, first).UTC()
	a.LastReceivedAt = time.Unix(0, last).UTC()
	return a, nil
}

// ProductColumns are the columns Product reads, in order.
const ProductColumns = "id, name, unit_price, stock"

// Product decodes ProductColumns.
func Product(row Row) (ordersvc.Product, error) {
	var p ordersvc.Product
	var unitPrice int64
	if err := row.Scan(&p.ID, &p.Name, &unitPrice, &p.Stock); err != nil {
		return ordersvc.Product{}, err
	}
	p.UnitPrice = ordersvc.Money(unitPrice)
	return p, nil
}

// Stocks calls fn with each row's (id, stock) until fn fails; fn's error
// is returned apart from the rows' own, so a caller can tell them apart.
func Stocks(rows Rows, fn func(id string, stock int64) error) (fnErr, err error) {
	var (
		id    string
		stock int64
	)
	for rows.Next() {
		if err := rows.Scan(&id, &stock); err != nil {
			return nil, err
		}
		if err := fn(id, stock); err != nil {
			return err, nil
		}
	}
	return nil, rows.Err()
}

// Totals adds rows of (type, orders, revenue_hi, revenue_lo) into s.
func Totals(rows Rows, s *ordersvc.Summary) error {
	for rows.Next() {
		var typ string
		var count int64
		var revenue ordersvc.Sum
		if err := rows.Scan(&typ, &count, &revenue.Hi, &revenue.Lo); err != nil {
			return err
		}
		s.Orders += count
		s.Revenue[ordersvc.OrderType(typ)] = revenue
		s.TotalRevenue = s.TotalRevenue.Plus(revenue)
	}
	return rows.Err()
}

// HeartbeatColumns are the columns Heartbeat reads, in order.
const HeartbeatColumns = "last_received_at, receiver, silent_since, outages, last_recovered_at"

// Heartbeat decodes HeartbeatColumns (Unix nanoseconds; NULL last
// receipt = never).
func Heartbeat(row Row) (ordersvc.Heartbeat, error) {
	var hb ordersvc.Heartbeat
	var last, silent, recovered *int64
	if err := row.Scan(&last, &hb.Receiver, &silent, &hb.Outages, &recovered); err != nil {
		return ordersvc.Heartbeat{}, err
	}
	if last != nil {
		hb.LastReceivedAt = time.Unix(0, *last).UTC()
	}
	hb.SilentSince = TimeOrNil(silent)
	hb.LastRecoveredAt = TimeOrNil(recovered)
	return hb, nil
}

// TimeOrNil turns nullable Unix nanoseconds into a time.
func TimeOrNil(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := time.Unix(0, *ns).UTC()
	return &t
}

// NullableTime is the other way: a time as Unix nanoseconds, or NULL.
func NullableTime(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ns := t.UnixNano()
	return &ns
}
