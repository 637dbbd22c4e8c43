// Package sqlite is the embedded store: SQLite through modernc.org/sqlite
// (pure Go, no cgo), with embedded migrations. It implements the domain's
// service interfaces and times every query.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ordersvc/ordersvc"
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
//
// The file at path is the database only as long as it is the file that was
// opened. An open connection keeps writing to its inode whatever happens to
// the path, so a file deleted or replaced under a running service would
// take every later write with it: SQLite would report success and the next
// start would open whatever is at the path. DB therefore records the
// file's identity at Open and checks it before every commit and in Ping;
// see checkFile for each fault and what recovers from it.
type DB struct {
	write    *sql.DB
	read     *sql.DB
	path     string
	opened   os.FileInfo // the file at path when it was opened (its device and inode)
	currency string
	observer QueryObserver
	now      func() time.Time

	// fault is the storage failure of the last write transaction (disk
	// full, I/O error, read-only database), nil after a successful one.
	// While it is set, Ping probes with a real write, so that readiness and
	// db_up tell a store that cannot write from one that can.
	fault atomic.Pointer[error]
}

// readPoolSize bounds the read pool. Every read connection stays open
// (idle limit = open limit): a connection opened later would open whatever
// file is at the path then, which may no longer be the database.
const readPoolSize = 4

// resetTimeout bounds the wait for the write connection when it is
// discarded after a storage failure.
const resetTimeout = time.Second

// Open opens (creating if needed) the database file at path and applies
// pending migrations. The file is created here and only here: both pools
// open it with mode=rw, so a connection opened later (after a failure)
// gets an error for a missing file rather than a new, empty database.
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
	if err := create(ctx, path); err != nil {
		return nil, err
	}
	var err error
	if db.opened, err = os.Stat(path); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// _txlock=immediate takes the write lock at BEGIN, so a transaction that
	// reads then writes cannot deadlock against another writer.
	if db.write, err = sql.Open("sqlite", writeDSN(path)); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if db.read, err = sql.Open("sqlite", readDSN(path)); err != nil {
		_ = db.write.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.read.SetMaxOpenConns(readPoolSize)
	db.read.SetMaxIdleConns(readPoolSize)
	if err := db.openReadPool(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// pragmas are set on every connection. synchronous=NORMAL in WAL mode
// syncs the WAL at checkpoints, not at every commit: a committed
// transaction survives a crash of the process (SIGKILL included: the
// kernel has its write, SPEC §3.1), while a power loss or an OS crash may
// roll back the last transactions. FULL would close that gap for an fsync
// per commit.
const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"

// dsn is the file URI of path with SQLite's open mode (rwc creates a
// missing file, rw does not) and the connection pragmas.
func dsn(path, mode string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=" + mode + "&" + pragmas
}

// writeDSN is the write pool's: an existing file only.
func writeDSN(path string) string { return dsn(path, "rw") + "&_txlock=immediate" }

// readDSN is the read pool's: an existing file only, and no writes.
func readDSN(path string) string { return dsn(path, "rw") + "&_pragma=query_only(1)" }

// create creates the database file at path if it does not exist, in WAL
// mode.
func create(ctx context.Context, path string) error {
	c, err := sql.Open("sqlite", dsn(path, "rwc"))
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	defer c.Close()
	if err := c.PingContext(ctx); err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	return nil
}

// openReadPool opens every read connection now, while the file at the
// path is the one Open recorded. They stay open (see readPoolSize): a
// connection opened after the file was replaced would read the new file
// through the old WAL, and could even checkpoint the old WAL into it
// when it closes.
func (db *DB) openReadPool(ctx context.Context) error {
	conns := make([]*sql.Conn, 0, readPoolSize)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range readPoolSize {
		c, err := db.read.Conn(ctx)
		if err != nil {
			return fmt.Errorf("open the read pool: %w", err)
		}
		conns = append(conns, c)
	}
	return nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping checks that the store works; /readyz and db_up use it. It fails
// when the database file is no longer the one opened (checkFile), when a
// table of the schema cannot be read, and, after a write failed for a
// storage reason, until a write succeeds again (it probes with one).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.checkFile(); err != nil {
		return err
	}
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return unavailable(err, "ping database")
	}
	if n == 0 {
		return ordersvc.Errorf(ordersvc.KindUnavailable, "the database has no schema")
	}
	if db.fault.Load() != nil {
		return db.probeWrite(ctx)
	}
	return nil
}

// probeWrite commits a write that changes nothing visible (it rewrites a
// row of schema_migrations with its own values), so that the pages really
// reach the WAL.
func (db *DB) probeWrite(ctx context.Context) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return unavailable(err, "probe write: begin")
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE schema_migrations SET applied_at = applied_at
		WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		_, err = db.noteWriteError(err)
		return unavailable(err, "probe write")
	}
	if err := db.commit(tx); err != nil {
		return unavailable(err, "probe write: commit")
	}
	return nil
}

// Errors of checkFile, wrapped in a KindUnavailable error whose message
// says what happened.
var (
	errFileRemoved  = errors.New("the database file was removed")
	errFileReplaced = errors.New("the database file was replaced by another file")
	errFileReadOnly = errors.New("the database file is read-only")
)

// checkFile reports whether the file at the path is still the database
// that was opened and may be written. It costs one stat. Each fault, and
// what recovers from it:
//
//   - removed: the open connections still hold the unlinked inode, and a
//     commit there would be acknowledged and then lost with it. Writes and
//     Ping fail until the service is restarted; a file put back at the path
//     is a different inode (the "replaced" case). Nothing can relink the
//     old inode, so there is no recovery in place.
//   - replaced (another file renamed or copied to the path, say a backup
//     restored under a running service): the same, and the service never
//     writes to either file: the old one is invisible to the next start,
//     the new one is not what this process read. A restart opens the new
//     file. Restore only with the service stopped, and remove the old -wal
//     and -shm files with it: SQLite would replay a stale WAL onto the
//     restored file.
//   - read-only (no write permission bit at all, e.g. chmod 0444): an
//     operator's "do not write", honoured even by root and by connections
//     opened before the change. Writes fail, reads go on; making the file
//     writable again recovers at once.
//
// A fault that begins between this check and the commit it guards is not
// seen; the window is one stat and one WAL append long.
func (db *DB) checkFile() error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fileFault(errFileRemoved, "restart the service")
	case err != nil:
		return unavailable(err, "check the database file")
	case !os.SameFile(fi, db.opened):
		return fileFault(errFileReplaced, "restart the service")
	case fi.Mode().Perm()&0o222 == 0:
		return fileFault(errFileReadOnly, "make it writable")
	}
	return nil
}

// fileFault is a checkFile error: its message (shown to clients) says
// what happened to the file, never where the file is.
func fileFault(cause error, remedy string) error {
	return ordersvc.WrapError(ordersvc.KindUnavailable, cause,
		"the database is unavailable: "+cause.Error()+"; writes are refused until an operator fixes it ("+remedy+")")
}

// beginWrite begins a write transaction. Every write transaction begins
// here and ends with commit, so that storage failures are noticed (see
// noteWriteError) and no commit reaches a file that is not the database.
func (db *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err == nil {
		return tx, nil
	}
	reset, err := db.noteWriteError(err)
	if reset {
		// The connection was discarded (it may predate the file becoming
		// writable): nothing was done yet, so begin once more on a new one.
		if tx, err = db.write.BeginTx(ctx, nil); err != nil {
			_, err = db.noteWriteError(err)
		}
	}
	return tx, err
}

// commit commits tx after checking the file (checkFile), and rolls it
// back when the file is not the database any more.
func (db *DB) commit(tx *sql.Tx) error {
	if err := db.checkFile(); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		_, err = db.noteWriteError(err)
		return err
	}
	db.fault.Store(nil)
	return nil
}

// noteWriteError classifies a failed write. A failure of the storage, not
// of the request, is recorded as the store's fault (see Ping) and returned
// as a KindUnavailable error that says what failed: a full disk or a file
// size limit (SQLITE_FULL, or SQLITE_IOERR with EFBIG) and other I/O
// errors, a read-only or unopenable file, a damaged file. A read-only or
// unopenable file also discards the write connection, and reset says so:
// SQLite opened it read-only, or lost it, and only a new connection sees
// the file writable again. Other errors are returned as they are.
func (db *DB) noteWriteError(err error) (reset bool, _ error) {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false, err
	}
	var what string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		db.resetWriter()
		what, reset = "the database file cannot be written", true
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		what = "the database cannot write to its disk (full, over a size limit, or failing)"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		what = "the database file is damaged"
	default:
		return false, err
	}
	db.fault.Store(&err)
	return reset, ordersvc.WrapError(ordersvc.KindUnavailable, err, "the database is unavailable: "+what+"; writes are refused until it can write again")
}

// resetWriter closes the write connection; the pool opens a new one for
// the next transaction (mode=rw: never a new file).
func (db *DB) resetWriter() {
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return
	}
	// Returning driver.ErrBadConn from Raw makes database/sql close the
	// connection instead of putting it back into the pool.
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// migrate applies the migrations the database lacks. Which ones are
// applied is read first, without a write transaction, so that a database
// that is up to date opens even when it cannot be written (a read-only
// file): the service then starts, serves reads and refuses writes, and
// recovers once the file is writable.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	applied, err := db.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	var pending []string
	for _, name := range names {
		if !applied[migrationVersion(name)] {
			pending = append(pending, name)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, name := range pending {
		if err := db.applyMigration(ctx, name, migrationVersion(name)); err != nil {
			return err
		}
	}
	return nil
}

// migrationVersion is a migration file's version: its name without ".sql".
func migrationVersion(name string) string {
	return strings.TrimSuffix(filepath.Base(name), ".sql")
}

// appliedMigrations returns the versions schema_migrations records (none
// in a new database).
func (db *DB) appliedMigrations(ctx context.Context) (map[string]bool, error) {
	applied := map[string]bool{}
	var tables int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").Scan(&tables); err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	if tables == 0 {
		return applied, nil
	}
	rows, err := db.read.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}

func (db *DB) applyMigration(ctx context.Context, name, version string) error {
	tx, err := db.beginWrite(ctx)
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
	if err := db.commit(tx); err != nil {
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
