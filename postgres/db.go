// Package postgres is the scale-out store: PostgreSQL through pgx's
// connection pool (github.com/jackc/pgx/v5/pgxpool), with embedded
// migrations. It implements the same domain interfaces as package sqlite,
// with the same semantics, so that any number of replicas can share one
// database and behave as one service:
//
//   - orders decrement stock with a conditional UPDATE in the order's
//     transaction (and the schema's CHECK (stock >= 0)), so concurrent
//     replicas never oversell;
//   - idempotency keys are UNIQUE: the same key sent to two replicas at
//     once makes one order, the other request waits for the first commit
//     and gets the replay (or IdempotencyMismatch for another body);
//   - webhook deliveries lock the alert's row, merge with
//     ordersvc.MergeAlert and write back, one transaction per notification;
//   - migrations run under a PostgreSQL advisory lock, so replicas starting
//     together migrate once, and SeedIfEmpty seeds the demo catalog once.
//
// Serialization failures and deadlocks (SQLSTATE 40001, 40P01) and errors
// pgx reports as safe to retry are retried a bounded number of times with
// jittered backoff. Every other storage failure, including a lost
// connection, is an ordersvc.KindUnavailable error; the pool replaces
// broken connections by itself, so the same DB works again once the server
// is back.
//
// Storage: money is bigint minor units; order and product times are
// timestamptz (microseconds, which the domain truncates to); alert times
// are bigint Unix nanoseconds, because Alertmanager's startsAt carries
// nanoseconds and is part of an alert's identity.
//
// Pool statistics: PoolStats reports the one pool ("main"), which the
// metrics package reads at scrape time as
// db_pool_connections{pool="main",state="in_use"|"idle"}.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/tracing"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options configure a DB. The zero value works.
type Options struct {
	// Currency is the ISO 4217 code stored with new orders (default "USD").
	Currency string
	// Observer times queries; nil disables timing.
	Observer tracing.QueryObserver
	// Now returns the current time (default time.Now); tests pin it.
	Now func() time.Time
	// Tracing makes every query a span of the request's trace; nil is off.
	Tracing *tracing.Provider
	// MaxConns bounds the pool. Zero means the URL's pool_max_conns when
	// it has one, else DefaultMaxConns.
	MaxConns int32
}

// DefaultMaxConns is the pool size when neither Options nor the URL set one.
const DefaultMaxConns = 16

// Retries of transient failures (serialization failures, deadlocks, and
// failures pgx knows happened before anything was sent).
const (
	maxAttempts = 4 // the first try and three retries
	retryBase   = 10 * time.Millisecond
)

// Advisory lock keys, shared by every replica on a database. They are
// arbitrary constants: "ordersvc" in ASCII, plus a small offset.
const (
	lockMigrations int64 = 0x6f72646572737663
	lockCatalog    int64 = lockMigrations + 1
)

// DB is an open PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool     *pgxpool.Pool
	currency string
	observer tracing.QueryObserver
	tracing  *tracing.Provider
	now      func() time.Time
}

// IsURL reports whether raw names a PostgreSQL database: a libpq URL with
// the scheme postgres:// or postgresql://.
func IsURL(raw string) bool {
	return strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://")
}

// Open connects to the database that databaseURL (postgres://… or
// postgresql://…, a libpq URL) names and applies pending migrations. No
// error it returns contains the URL's password.
func Open(ctx context.Context, databaseURL string, opts Options) (*DB, error) {
	if !IsURL(databaseURL) {
		return nil, fmt.Errorf("unsupported database URL %s: want postgres://… or postgresql://…", RedactURL(databaseURL))
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parser's message may quote the URL; never pass it on unscrubbed.
		return nil, fmt.Errorf("invalid database URL %s: %s", RedactURL(databaseURL), scrubSecrets(err.Error(), databaseURL))
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(databaseURL, "pool_max_conns="):
		cfg.MaxConns = DefaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "ordersvc"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %s", RedactURL(databaseURL), scrubSecrets(err.Error(), databaseURL))
	}
	db := &DB{pool: pool, currency: opts.Currency, observer: opts.Observer, now: opts.Now, tracing: opts.Tracing}
	if db.currency == "" {
		db.currency = "USD"
	}
	if db.now == nil {
		db.now = time.Now
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %s", RedactURL(databaseURL), scrubSecrets(err.Error(), databaseURL))
	}
	return db, nil
}

// Close closes every connection of the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers a query on a table of the schema
// this DB migrated; /readyz and db_up use it.
func (db *DB) Ping(ctx context.Context) error {
	if _, err := db.pool.Exec(ctx, "SELECT 1 FROM schema_migrations LIMIT 1"); err != nil {
		return unavailable(err, "ping database")
	}
	return nil
}

// PoolStats reports how many connections of the pool are in use and how
// many are idle, for db_pool_connections.
func (db *DB) PoolStats() []ordersvc.PoolStat {
	s := db.pool.Stat()
	return []ordersvc.PoolStat{{Pool: "main", InUse: int(s.AcquiredConns()), Idle: int(s.IdleConns())}}
}

// migrate applies every embedded migration not yet recorded in
// schema_migrations. It holds a session advisory lock throughout, so
// replicas starting at once take turns and each migration runs once.
func (db *DB) migrate(ctx context.Context) (err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrations); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrations); uerr != nil {
			// A session lock left on a pooled connection would block every
			// later migration: drop the connection, which releases it.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			err = errors.Join(err, fmt.Errorf("migrate: release the migration lock: %w", uerr))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		if err := db.applyMigration(ctx, conn, name, version); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, conn *pgxpool.Conn, name, version string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", version, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var applied bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&applied); err != nil {
		return fmt.Errorf("migration %s: check: %w", version, err)
	}
	if applied {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("migration %s: read: %w", version, err)
	}
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: apply: %w", version, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", version, db.now()); err != nil {
		return fmt.Errorf("migration %s: record: %w", version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %s: commit: %w", version, err)
	}
	return nil
}

// timed runs fn, one query, timed into db_query_duration_seconds and, with
// tracing on, as a child span of the request (tracing.TimeQuery).
func (db *DB) timed(ctx context.Context, operation, table string, fn func() error) error {
	return db.tracing.TimeQuery(ctx, tracing.DBSystemPostgreSQL, db.observer, operation, table, fn)
}

// errUndo, returned by a transaction's function, rolls the transaction
// back without failing the call: the function found its answer (say, the
// replay of an idempotent request) and must not keep what it wrote.
var errUndo = errors.New("roll back: the answer was found without writing")

// inTx runs fn in a transaction and commits it. A transient failure
// (serialization failure, deadlock, or a failure pgx reports as safe to
// retry) runs the whole transaction again, up to maxAttempts in all, with
// jittered exponential backoff. fn must therefore have no effect outside
// the transaction other than setting its results.
func (db *DB) inTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tryTx(ctx, what, fn)
		if errors.Is(err, errUndo) {
			return nil
		}
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		backoff := retryBase << (attempt - 1)
		backoff = backoff/2 + rand.N(backoff) // jitter: 0.5× to 1.5×
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (db *DB) tryTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return unavailable(err, what+": begin")
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable(err, what+": commit")
	}
	return nil
}

// retryable reports whether running the transaction again may succeed and
// cannot apply it twice.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return pgconn.SafeToRetry(err)
}

// unavailable wraps a storage failure as KindUnavailable: the client may retry.
func unavailable(err error, what string) error {
	return ordersvc.WrapError(ordersvc.KindUnavailable, fmt.Errorf("%s: %w", what, err), "the database is unavailable")
}

// hasNUL reports whether any of ss holds a NUL character, which PostgreSQL
// text cannot store.
func hasNUL(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}
