package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var _ ordersvc.HeartbeatService = (*DB)(nil)

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
	err = db.timed(ctx, "select", "heartbeat", func() error {
		before, err = rowscan.Heartbeat(tx.QueryRowContext(ctx, "SELECT "+rowscan.HeartbeatColumns+" FROM heartbeat WHERE id = 1"))
		return err
	})
	if err != nil {
		return ordersvc.HeartbeatBeat{}, unavailable(err, "record heartbeat: read")
	}
	var after ordersvc.Heartbeat
	err = db.timed(ctx, "update", "heartbeat", func() error {
		// A replica's clock may lag: the last heartbeat never moves back.
		after, err = rowscan.Heartbeat(tx.QueryRowContext(ctx, `UPDATE heartbeat SET
			last_received_at = max(coalesce(last_received_at, 0), ?1), receiver = ?2, silent_since = NULL,
			last_recovered_at = CASE WHEN silent_since IS NULL THEN last_recovered_at ELSE ?1 END
			WHERE id = 1 RETURNING `+rowscan.HeartbeatColumns, at.UnixNano(), receiver))
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
	err := db.timed(ctx, "update", "heartbeat", func() error {
		var err error
		hb, err = rowscan.Heartbeat(db.write.QueryRowContext(ctx, `UPDATE heartbeat SET silent_since = ?1, outages = outages + 1
			WHERE id = 1 AND last_received_at IS NOT NULL AND last_received_at < ?2 AND silent_since IS NULL
			RETURNING `+rowscan.HeartbeatColumns, now.UnixNano(), now.Add(-timeout).UnixNano()))
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
	err := db.timed(ctx, "select", "heartbeat", func() error {
		var err error
		hb, err = rowscan.Heartbeat(db.read.QueryRowContext(ctx, "SELECT "+rowscan.HeartbeatColumns+" FROM heartbeat WHERE id = 1"))
		return err
	})
	if err != nil {
		return ordersvc.Heartbeat{}, unavailable(err, "read heartbeat")
	}
	return hb, nil
}
