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
	observer tracing.QueryObserver
	tracing  *tracing.Provider
	now      func() time.Time

	// fault is the storage failure of the last write transaction (disk
	// full, I/O error, read-only database), nil after a successful one.
	// While it is set, Ping probes with a real write, so that readiness and
	// db_up tell a store that cannot write from one that can.
	fault atomic.Pointer[error]
	// detached is set once the WAL was emptied after the file was found
	// removed or replaced (see detach).
	detached atomic.Bool
	// orders is CreateOrder's state: prepared statements and the group
	// commit queue (orders.go).
	orders orderWriter
}

// detachTimeout bounds the checkpoint of detach.
const detachTimeout = 5 * time.Second

// readPoolSize bounds the read pool. Every read connection stays open
// (idle limit = open limit): a connection opened later would open whatever
// file is at the path then, which may no longer be the database.
const readPoolSize = 4

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
	db := &DB{path: path, currency: opts.Currency, observer: opts.Observer, now: opts.Now, tracing: opts.Tracing}
	if db.currency == "" {
		db.currency = "USD"
	}
	if db.now == nil {
		db.now = time.Now
	}
	if err := create(ctx, path); err != nil {
		return nil, err
	}
	if err := alignSideFiles(path); err != nil {
		return nil, err
	}
	var err error
	if db.opened, err = os.Stat(path); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// _txlock=immediate takes the write lock at BEGIN, so a transaction that
	// reads then writes cannot deadlock against another writer.
	db.write = sql.OpenDB(writeConnector{drv: &msqlite.Driver{}, dsn: writeDSN(path)})
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

// errWriterReadOnly is why a write connection was refused.
var errWriterReadOnly = errors.New("the database file is read-only")

// writeConnector opens the write pool's connections and refuses one that
// SQLite opened read-only (mode=rw falls back to read-only when the
// process may not write the file), so that a write fails at BEGIN with
// a clear error, and the pool tries a new connection at the next
// transaction instead of keeping one that can never write.
type writeConnector struct {
	drv *msqlite.Driver
	dsn string
}

// Connect implements driver.Connector.
func (c writeConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if ro, ok := conn.(interface{ IsReadOnly(string) (bool, error) }); ok {
		if readOnly, err := ro.IsReadOnly("main"); err != nil || readOnly {
			_ = conn.Close()
			if err == nil {
				err = errWriterReadOnly
			}
			return nil, fmt.Errorf("open a write connection: %w", err)
		}
	}
	return conn, nil
}

// Driver implements driver.Connector.
func (c writeConnector) Driver() driver.Driver { return c.drv }

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

// alignSideFiles gives the -wal and -shm files the write permission of
// the database file when they lack it. SQLite creates them with the
// database file's mode, so a process that opened a read-only (0444)
// database leaves them read-only too; once the database file is writable
// again, they would keep every connection read-only. Files that are not
// the process's to change are left alone (SQLite then reports them).
func alignSideFiles(path string) error {
	db, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	want := db.Mode().Perm() & 0o222
	if want == 0 {
		return nil
	}
	for _, side := range []string{path + "-wal", path + "-shm"} {
		fi, err := os.Stat(side)
		if err != nil || fi.Mode().Perm()&0o222 != 0 {
			continue
		}
		if err := os.Chmod(side, fi.Mode().Perm()|want); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("make %s writable like the database: %w", filepath.Base(side), err)
		}
	}
	return nil
}

// Close closes both connection pools, detaching first from a file that
// was removed or replaced.
func (db *DB) Close() error {
	readErr := db.read.Close()
	if isDetachFault(db.checkFile()) {
		db.detach()
	}
	return errors.Join(readErr, db.write.Close())
}

// Ping checks that the store works; /readyz and db_up use it. It fails
// when the database file is no longer the one opened (checkFile), when a
// table of the schema cannot be read, and, after a write failed for a
// storage reason, until a write succeeds again (it probes with one).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.checkFile(); err != nil {
		if isDetachFault(err) {
			db.detach()
		}
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

// probeWrite commits a write that leaves the data as it was: it moves a
// row of schema_migrations forward and back. Two changes, because SQLite
// does not even dirty a page for an update that writes the same bytes,
// and a probe that writes nothing proves nothing.
func (db *DB) probeWrite(ctx context.Context) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return unavailable(err, "probe write: begin")
	}
	defer func() { _ = tx.Rollback() }()
	for _, delta := range []int{1, -1} {
		if _, err := tx.ExecContext(ctx, `UPDATE schema_migrations SET applied_at = applied_at + ?
			WHERE version = (SELECT max(version) FROM schema_migrations)`, delta); err != nil {
			return unavailable(db.noteWriteError(err), "probe write")
		}
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
//     file, and detach has emptied the old WAL so that SQLite does not
//     replay it onto the new file. Better still, restore with the service
//     stopped, and remove the old -wal and -shm files with the old file.
//   - read-only (no write permission bit at all, e.g. chmod 0444): an
//     operator's "do not write", honoured even by root and by connections
//     opened before the change. Writes fail, reads go on; making the file
//     writable again recovers at once. A store opened on a read-only file
//     (by a user the kernel holds to it) serves reads and refuses writes
//     too, but needs a restart once the file is writable: SQLite shares
//     one read-only mapping of the WAL index among all its connections.
//     The restart then works (alignSideFiles).
//
// A fault that begins between this check and the commit it guards is not
// seen; the window is one stat and one WAL append long.
func (db *DB) checkFile() error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return db.fileFault(errFileRemoved, "restart the service")
	case err != nil:
		return unavailable(err, "check the database file")
	case !os.SameFile(fi, db.opened):
		return db.fileFault(errFileReplaced, "restart the service")
	case fi.Mode().Perm()&0o222 == 0:
		return db.fileFault(errFileReadOnly, "make it writable; restart the service if it started read-only")
	}
	return nil
}

// fileFault is a checkFile error: its message (shown to clients) says
// what happened to the file, its cause (logged) also where the file is.
func (db *DB) fileFault(cause error, remedy string) error {
	return ordersvc.WrapError(ordersvc.KindUnavailable, &fs.PathError{Op: "check", Path: db.path, Err: cause},
		"the database is unavailable: "+cause.Error()+"; writes are refused until an operator fixes it ("+remedy+")")
}

// isDetachFault reports whether err says that the file at the path is not
// the database any more.
func isDetachFault(err error) bool {
	return errors.Is(err, errFileRemoved) || errors.Is(err, errFileReplaced)
}

// detach empties the WAL into the file that was opened, once that file
// is no longer at the path. The WAL is still at the path (db-wal), and
// SQLite does not check it when the service closes (it skips the final
// checkpoint of a moved file and leaves the WAL behind) or crashes: the
// next start would replay the old database's pages onto whatever file is
// at the path now, a restored backup say. Emptied, the WAL replays
// nothing. Until the checkpoint succeeds (readers may hold it up), every
// Ping, refused commit and Close tries again.
func (db *DB) detach() {
	if db.detached.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), detachTimeout)
	defer cancel()
	var busy, logFrames, checkpointed int
	if err := db.write.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed); err == nil && busy == 0 {
		db.detached.Store(true)
	}
}

// beginWrite begins a write transaction. Every write transaction begins
// here and ends with commit, so that storage failures are noticed (see
// noteWriteError) and no commit reaches a file that is not the database.
func (db *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, db.noteWriteError(err)
	}
	return tx, nil
}

// commit commits tx after checking the file (checkFile), and rolls it
// back when the file is not the database any more.
func (db *DB) commit(tx *sql.Tx) error {
	if err := db.checkFile(); err != nil {
		_ = tx.Rollback()
		if isDetachFault(err) {
			db.detach()
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return db.noteWriteError(err)
	}
	db.fault.Store(nil)
	return nil
}

// noteWriteError classifies a failed write. A failure of the storage, not
// of the request, is recorded as the store's fault (see Ping) and returned
// as a KindUnavailable error that says what failed: a full disk or a file
// size limit (SQLITE_FULL, or SQLITE_IOERR with EFBIG) and other I/O
// errors, a read-only or unopenable file, a damaged file. Other errors
// are returned as they are.
func (db *DB) noteWriteError(err error) error {
	what := storageFailure(err)
	if what == "" {
		return err
	}
	db.fault.Store(&err)
	return ordersvc.WrapError(ordersvc.KindUnavailable, err, "the database is unavailable: "+what+"; writes are refused until it can write again")
}

// storageFailure says what failed when err is a failure of the storage,
// and is "" otherwise.
func storageFailure(err error) string {
	if errors.Is(err, errWriterReadOnly) {
		return "the database file is read-only"
	}
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return "the database file is read-only or cannot be opened"
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return "the database cannot write to its disk (full, over a size limit, or failing)"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return "the database file is damaged"
	}
	return ""
}

// migrate applies the migrations the database lacks. Which ones are
// applied is read first, without a write transaction, so that a database
// that is up to date opens even when it cannot be written (a read-only
// file): the service then starts, serves reads and refuses writes (see
// checkFile).
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

// timed runs fn, one query, timed into db_query_duration_seconds and, with
// tracing on, as a child span of the request (tracing.TimeQuery).
func (db *DB) timed(ctx context.Context, operation, table string, fn func() error) error {
	return db.tracing.TimeQuery(ctx, tracing.DBSystemSQLite, db.observer, operation, table, fn)
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
