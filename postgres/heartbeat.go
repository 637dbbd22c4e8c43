package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var _ ordersvc.HeartbeatService = (*DB)(nil)

// RecordHeartbeat implements ordersvc.HeartbeatService. The row is locked
// (FOR UPDATE) before the update, so of two replicas receiving heartbeats
// after an outage exactly one sees it open and records the recovery.
func (db *DB) RecordHeartbeat(ctx context.Context, receiver string, at time.Time) (ordersvc.HeartbeatBeat, error) {
	var beat ordersvc.HeartbeatBeat
	err := db.inTx(ctx, "record heartbeat", func(tx pgx.Tx) error {
		var before ordersvc.Heartbeat
		err := db.timed(ctx, "select", "heartbeat", func() error {
			var err error
			before, err = rowscan.Heartbeat(tx.QueryRow(ctx, "SELECT "+rowscan.HeartbeatColumns+" FROM heartbeat WHERE id = 1 FOR UPDATE"))
			return err
		})
		if err != nil {
			return unavailable(err, "record heartbeat: read")
		}
		var after ordersvc.Heartbeat
		err = db.timed(ctx, "update", "heartbeat", func() error {
			// A replica's clock may lag: the last heartbeat never moves back.
			var err error
			after, err = rowscan.Heartbeat(tx.QueryRow(ctx, `UPDATE heartbeat SET
				last_received_at = greatest(coalesce(last_received_at, 0), $1), receiver = $2, silent_since = NULL,
				last_recovered_at = CASE WHEN silent_since IS NULL THEN last_recovered_at ELSE $1 END
				WHERE id = 1 RETURNING `+rowscan.HeartbeatColumns, at.UnixNano(), receiver))
			return err
		})
		if err != nil {
			return unavailable(err, "record heartbeat: update")
		}
		beat = ordersvc.HeartbeatBeat{Heartbeat: after, Recovered: before.SilentSince != nil}
		if beat.Recovered {
			beat.Outage = at.Sub(before.LastReceivedAt)
		}
		return nil
	})
	if err != nil {
		return ordersvc.HeartbeatBeat{}, err
	}
	return beat, nil
}

// ClaimSilence implements ordersvc.HeartbeatService: one conditional
// UPDATE. Under READ COMMITTED a concurrent claimer waits for the row and
// then re-checks the condition on the updated row, finds the outage open,
// and claims nothing: one outage, one report, however many replicas.
func (db *DB) ClaimSilence(ctx context.Context, now time.Time, timeout time.Duration) (ordersvc.Heartbeat, bool, error) {
	var hb ordersvc.Heartbeat
	err := db.timed(ctx, "update", "heartbeat", func() error {
		var err error
		hb, err = rowscan.Heartbeat(db.pool.QueryRow(ctx, `UPDATE heartbeat SET silent_since = $1, outages = outages + 1
			WHERE id = 1 AND last_received_at IS NOT NULL AND last_received_at < $2 AND silent_since IS NULL
			RETURNING `+rowscan.HeartbeatColumns, now.UnixNano(), now.Add(-timeout).UnixNano()))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) { // not silent, or already claimed
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
		hb, err = rowscan.Heartbeat(db.pool.QueryRow(ctx, "SELECT "+rowscan.HeartbeatColumns+" FROM heartbeat WHERE id = 1"))
		return err
	})
	if err != nil {
		return ordersvc.Heartbeat{}, unavailable(err, "read heartbeat")
	}
	return hb, nil
}
