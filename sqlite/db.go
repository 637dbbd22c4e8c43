// Package sqlite is the embedded store: SQLite through modernc.org/sqlite
// (pure Go, no cgo), with embedded migrations. It implements the domain's
// service interfaces and times every query.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/ordersvc/ordersvc" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// QueryObserver receives the duration of every query. The metrics package
// implements it; a nil observer records nothing.
type QueryObserver interface {
	ObserveQuery(operation, table string, d time.Duration)
}

// Options configure a DB. The zero value works.
type Options struct {
	// Currency is the ISO 4217 code stored with new orders (default "USD").
	Currency string
	// Observer times queries; nil disables timing.
	Observer QueryObserver
	// Now returns the current time (default time.Now); tests pin it.
	Now func() time.Time
}

// DB is an open database. SQLite allows one writer at a time, so writes go
// through a pool of exactly one connection (transactions queue in Go instead
// of failing with SQLITE_BUSY), while reads use their own pool and run
// concurrently thanks to WAL.
type DB struct {
	write    *sql.DB
	read     *sql.DB
	path     string
	currency string
	observer QueryObserver
	now      func() time.Time
	// orders is CreateOrder's state: prepared statements and the group
	// commit queue (orders.go).
	orders orderWriter
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	db := &DB{path: path, currency: opts.Currency, observer: opts.Observer, now: opts.Now}
	if db.currency == "" {
		db.currency = "USD"
	}
	if db.now == nil {
		db.now = time.Now
	}
	pragmas := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
	var err error
	// _txlock=immediate takes the write lock at BEGIN, so a transaction that
	// reads then writes cannot deadlock against another writer.
	if db.write, err = sql.Open("sqlite", dsn+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if db.read, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)"); err != nil {
		_ = db.write.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.read.SetMaxOpenConns(4)
	if err := db.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping checks that the database answers a query; /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		if err := db.applyMigration(ctx, name, version); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, name, version string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", version, err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: check: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("migration %s: read: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: apply: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, db.now().UnixMicro()); err != nil {
		return fmt.Errorf("migration %s: record: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", version, err)
	}
	return nil
}

// timed runs fn and reports its duration to the observer.
func (db *DB) timed(operation, table string, fn func() error) error {
	if db.observer == nil {
		return fn()
	}
	start := time.Now()
	err := fn()
	db.observer.ObserveQuery(operation, table, time.Since(start))
	return err
}

// PoolStats reports the write pool (one connection: the single writer)
// and the read pool, for db_pool_connections.
func (db *DB) PoolStats() []ordersvc.PoolStat {
	w, r := db.write.Stats(), db.read.Stats()
	return []ordersvc.PoolStat{
		{Pool: "write", InUse: w.InUse, Idle: w.Idle},
		{Pool: "read", InUse: r.InUse, Idle: r.Idle},
	}
}
