package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ordersvc/ordersvc"
)

var _ ordersvc.HeartbeatService = (*DB)(nil)

const heartbeatColumns = "last_received_at, receiver, silent_since, outages, last_recovered_at"

// scanHeartbeat reads heartbeatColumns.
func scanHeartbeat(row interface{ Scan(...any) error }) (ordersvc.Heartbeat, error) {
	var hb ordersvc.Heartbeat
	var last, silent, recovered sql.NullInt64
	if err := row.Scan(&last, &hb.Receiver, &silent, &hb.Outages, &recovered); err != nil {
		return ordersvc.Heartbeat{}, err
	}
	if last.Valid {
		hb.LastReceivedAt = time.Unix(0, last.Int64).UTC()
	}
	hb.SilentSince = timeOrNil(silent)
	hb.LastRecoveredAt = timeOrNil(recovered)
	return hb, nil
}

func timeOrNil(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(0, v.Int64).UTC()
	return &t
}

// RecordHeartbeat implements ordersvc.HeartbeatService. The read and the
// update share one write transaction on the single writer, so exactly one
// heartbeat closes an outage.
func (db *DB) RecordHeartbeat(ctx context.Context, receiver string, at time.Time) (ordersvc.HeartbeatBeat, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return ordersvc.HeartbeatBeat{}, unavailable(err, "record heartbeat: begin")
	}
	defer func() { _ = tx.Rollback() }()
	var before ordersvc.Heartbeat
	err = db.timed("select", "heartbeat", func() error {
		before, err = scanHeartbeat(tx.QueryRowContext(ctx, "SELECT "+heartbeatColumns+" FROM heartbeat WHERE id = 1"))
		return err
	})
	if err != nil {
		return ordersvc.HeartbeatBeat{}, unavailable(err, "record heartbeat: read")
	}
	var after ordersvc.Heartbeat
	err = db.timed("update", "heartbeat", func() error {
		// A replica's clock may lag: the last heartbeat never moves back.
		after, err = scanHeartbeat(tx.QueryRowContext(ctx, `UPDATE heartbeat SET
			last_received_at = max(coalesce(last_received_at, 0), ?1), receiver = ?2, silent_since = NULL,
			last_recovered_at = CASE WHEN silent_since IS NULL THEN last_recovered_at ELSE ?1 END
			WHERE id = 1 RETURNING `+heartbeatColumns, at.UnixNano(), receiver))
		return err
	})
	if err != nil {
		return ordersvc.HeartbeatBeat{}, unavailable(err, "record heartbeat: update")
	}
	if err := db.commit(tx); err != nil {
		return ordersvc.HeartbeatBeat{}, unavailable(err, "record heartbeat: commit")
	}
	beat := ordersvc.HeartbeatBeat{Heartbeat: after, Recovered: before.SilentSince != nil}
	if beat.Recovered {
		beat.Outage = at.Sub(before.LastReceivedAt)
	}
	return beat, nil
}

// ClaimSilence implements ordersvc.HeartbeatService: one conditional
// UPDATE, so only one caller opens an outage.
func (db *DB) ClaimSilence(ctx context.Context, now time.Time, timeout time.Duration) (ordersvc.Heartbeat, bool, error) {
	var hb ordersvc.Heartbeat
	err := db.timed("update", "heartbeat", func() error {
		var err error
		hb, err = scanHeartbeat(db.write.QueryRowContext(ctx, `UPDATE heartbeat SET silent_since = ?1, outages = outages + 1
			WHERE id = 1 AND last_received_at IS NOT NULL AND last_received_at < ?2 AND silent_since IS NULL
			RETURNING `+heartbeatColumns, now.UnixNano(), now.Add(-timeout).UnixNano()))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) { // not silent, or already claimed
		hb, err = db.Heartbeat(ctx)
		return hb, false, err
	}
	if err != nil {
		return ordersvc.Heartbeat{}, false, unavailable(err, "claim heartbeat silence")
	}
	return hb, true, nil
}

// Heartbeat implements ordersvc.HeartbeatService.
func (db *DB) Heartbeat(ctx context.Context) (ordersvc.Heartbeat, error) {
	var hb ordersvc.Heartbeat
	err := db.timed("select", "heartbeat", func() error {
		var err error
		hb, err = scanHeartbeat(db.read.QueryRowContext(ctx, "SELECT "+heartbeatColumns+" FROM heartbeat WHERE id = 1"))
		return err
	})
	if err != nil {
		return ordersvc.Heartbeat{}, unavailable(err, "read heartbeat")
	}
	return hb, nil
}
