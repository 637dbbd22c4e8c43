package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

// The store's behaviour is tested by the conformance suite
// (conformance_test.go); this file tests what only SQLite has: its URLs
// and its database file.

// TestReopenKeepsDataAndMigratesOnce closes and reopens one database file
// (in a directory Open creates): the migrations run again without error,
// the data is still there, and the seed does not run twice.
func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "db.sqlite")
	ctx := context.Background()
	db, err := Open(ctx, path, Options{Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if seeded, err := db.SeedIfEmpty(ctx, ordersvc.DemoCatalog()); err != nil || !seeded {
		t.Fatalf("seed: %v %v", seeded, err)
	}
	o, created, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-4", Quantity: 3, Type: ordersvc.OrderInStore})
	if err != nil || !created || o.Amount != 1050 || o.Currency != "EUR" {
		t.Fatalf("order = %+v, %v, %v", o, created, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen (migrations again): %v", err)
	}
	defer db.Close()
	if seeded, _ := db.SeedIfEmpty(ctx, ordersvc.DemoCatalog()); seeded {
		t.Error("seeded a database that has data")
	}
	s, err := db.Summary(ctx)
	if err != nil || s.Orders != 1 || s.Revenue[ordersvc.OrderInStore] != ordersvc.SumOf(1050) {
		t.Errorf("summary = %+v, %v", s, err)
	}
	if got, err := db.Order(ctx, o.ID); err != nil || got != o {
		t.Errorf("order after reopen = %+v, %v; want %+v", got, err, o)
	}
}

// TestSummaryIsExactBeyondInt64: the totals carry into a second limb, so a
// revenue that no int64 holds is still reported exactly (before, the sum
// overflowed and the report failed for good).
func TestSummaryIsExactBeyondInt64(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.UpsertProduct(ctx, ordersvc.Product{ID: "p", Name: "P", UnitPrice: ordersvc.MaxMoney, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline}); err != nil {
		t.Fatal(err)
	}
	// As if 9.2·10^7 orders at the cap had come before: just below the
	// int64 limit, in minor units.
	if _, err := db.write.ExecContext(ctx, "UPDATE order_totals SET revenue_hi = 9, revenue_lo = 999999999999999999 WHERE type = 'online'"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := db.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 9·10^18 + (10^18 − 1) + 2·10^11 = 10^19 + 2·10^11 − 1 minor units.
	want := ordersvc.Sum{Hi: 10, Lo: 2*int64(ordersvc.MaxMoney) - 1}
	if s.Revenue[ordersvc.OrderOnline] != want || s.TotalRevenue != want || s.Orders != 3 {
		t.Errorf("summary revenue %+v total %+v orders %d, want %+v and 3", s.Revenue[ordersvc.OrderOnline], s.TotalRevenue, s.Orders, want)
	}
	if got := want.String(); got != "100000001999999999.99" { // 10^17 + 2·10^9 − 0.01 currency units
		t.Errorf("formatted %s", got)
	}
}

// openSeeded opens a new database at path with one product of ample stock.
func openSeeded(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.UpsertProduct(context.Background(), ordersvc.Product{ID: "p", Name: "p", UnitPrice: 100, Stock: 1000}); err != nil {
		t.Fatal(err)
	}
	return db
}

// writeAll runs every kind of write transaction the service has and
// returns their errors by name.
func writeAll(db *DB) map[string]error {
	ctx := context.Background()
	errs := map[string]error{}
	_, _, errs["CreateOrder"] = db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline})
	_, errs["UpsertProduct"] = db.UpsertProduct(ctx, ordersvc.Product{ID: "q", Name: "q", UnitPrice: 1, Stock: 1})
	_, errs["RecordAlerts"] = db.RecordAlerts(ctx, ordersvc.AlertNotification{Receiver: "r", Status: ordersvc.AlertFiring,
		Alerts: []ordersvc.Alert{{Fingerprint: "f1", Status: ordersvc.AlertFiring, StartsAt: time.Now(),
			Labels: map[string]string{"alertname": "A", "severity": "warning"}}}}, time.Now())
	return errs
}

// wantUnavailable checks that every write and Ping fail as unavailable
// with a message naming the fault.
func wantUnavailable(t *testing.T, db *DB, fault string) {
	t.Helper()
	for name, err := range writeAll(db) {
		if ordersvc.KindOf(err) != ordersvc.KindUnavailable {
			t.Errorf("%s with %s: %v, want an unavailable error", name, fault, err)
			continue
		}
		if e, _ := ordersvc.AsError(err); !strings.Contains(e.Message, fault) {
			t.Errorf("%s: message %q does not say %q", name, e.Message, fault)
		}
	}
	if err := db.Ping(context.Background()); ordersvc.KindOf(err) != ordersvc.KindUnavailable {
		t.Errorf("Ping with %s: %v, want an unavailable error", fault, err)
	}
}

// wantWorking checks that every write and Ping succeed.
func wantWorking(t *testing.T, db *DB, when string) {
	t.Helper()
	for name, err := range writeAll(db) {
		if err != nil {
			t.Errorf("%s %s: %v", name, when, err)
		}
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Errorf("Ping %s: %v", when, err)
	}
}

// countOrders reads the orders of the database file at path with a
// connection of its own.
func countOrders(t *testing.T, path string) int {
	t.Helper()
	c, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	if err := c.QueryRow("SELECT count(*) FROM orders").Scan(&n); err != nil {
		t.Fatalf("count orders of %s: %v", path, err)
	}
	return n
}

// TestRemovedFileRefusesWrites is the regression test of issue #10
// (defect 2): with the database file removed under a running service,
// writes were acknowledged into the unlinked inode and lost, and Ping
// still succeeded.
func TestRemovedFileRefusesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := openSeeded(t, path)
	wantWorking(t, db, "before the fault")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, db, "removed")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the store re-created the removed file: %v", err)
	}
}

// TestReplacedFileRefusesWrites: another database renamed over the path
// (a backup restored under the running service) gets no write, neither
// does the old inode, and the old database's WAL, still at the path, is
// not replayed onto the new file when the store is opened again.
func TestReplacedFileRefusesWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "db.sqlite")
	db := openSeeded(t, path)
	wantWorking(t, db, "before the fault")
	other, err := Open(ctx, filepath.Join(dir, "other.sqlite"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpsertProduct(ctx, ordersvc.Product{ID: "other", Name: "o", UnitPrice: 1, Stock: 1}); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "other.sqlite"), path); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, db, "replaced")
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := countOrders(t, path); n != 0 {
		t.Errorf("the replacing file has %d orders, want 0", n)
	}
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	products, _, err := db.ProductPage(ctx, "", ordersvc.MaxProductPage)
	if err != nil || len(products) != 1 || products[0].ID != "other" {
		t.Errorf("products of the replacing file after a reopen: %+v, %v; want only \"other\"", products, err)
	}
	if _, err := db.UpsertProduct(ctx, ordersvc.Product{ID: "p2", Name: "p", UnitPrice: 1, Stock: 1}); err != nil {
		t.Errorf("write to the replacing file after a reopen: %v", err)
	}
}

// TestReadOnlyFileRefusesWritesAndRecovers: a file without write
// permission refuses writes (even to root, whom the kernel would let
// write), a store opened on it starts and serves reads, and both recover
// once the file is writable again.
func TestReadOnlyFileRefusesWritesAndRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := openSeeded(t, path)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, db, "read-only")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	wantWorking(t, db, "after chmod 0644")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("open a read-only, up-to-date database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if seeded, err := db.SeedIfEmpty(context.Background(), ordersvc.DemoCatalog()); err != nil || seeded {
		t.Errorf("seed a read-only database that has data: %v %v", seeded, err)
	}
	if _, _, err := db.ProductPage(context.Background(), "", 10); err != nil {
		t.Errorf("read a read-only database: %v", err)
	}
	wantUnavailable(t, db, "read-only")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	wantWorking(t, db, "after chmod 0644 (reopened)")
}

// TestReadPoolNeverCreatesTheFile: a read connection opened when the file
// is missing fails instead of creating a new, empty database.
func TestReadPoolNeverCreatesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.sqlite")
	for name, dsn := range map[string]string{"read": readDSN(path), "write": writeDSN(path)} {
		c, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(); err == nil {
			t.Errorf("%s pool: opened a missing file", name)
		}
		_ = c.Close()
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s pool created the missing file: %v", name, err)
		}
	}
}

// TestPingReadsTheSchema: readiness needs a table of the schema, not just
// a connection that answers SELECT 1.
func TestPingReadsTheSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := openSeeded(t, path)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := db.write.Exec("DROP TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); ordersvc.KindOf(err) != ordersvc.KindUnavailable {
		t.Errorf("Ping without schema_migrations: %v, want an unavailable error", err)
	}
}

// BenchmarkCommit compares a plain commit with the checked one every
// write transaction uses (one stat more).
func BenchmarkCommit(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "db.sqlite"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, bc := range []struct {
		name   string
		commit func(*sql.Tx) error
	}{
		{"plain", (*sql.Tx).Commit},
		{"checked", db.commit},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				tx, err := db.beginWrite(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Exec("UPDATE schema_migrations SET applied_at = ?", i); err != nil {
					b.Fatal(err)
				}
				if err := bc.commit(tx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// diskFullEnv, when set, makes TestDiskFullRefusesWritesAndRecovers run
// its child part: in a process of its own, since the limit applies to the
// whole process.
const diskFullEnv = "ORDERSVC_TEST_DISK_FULL_DIR"

// TestDiskFullRefusesWritesAndRecovers: with RLIMIT_FSIZE at 0 (no write
// to any file succeeds, as on a full disk) writes fail as unavailable
// with a detail that names the disk, Ping fails, and both recover once the
// limit is lifted. The Go runtime ignores the SIGXFSZ that comes with the
// refused writes.
func TestDiskFullRefusesWritesAndRecovers(t *testing.T) {
	if dir := os.Getenv(diskFullEnv); dir != "" {
		diskFullChild(t, dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFullRefusesWritesAndRecovers$", "-test.v")
	cmd.Env = append(os.Environ(), diskFullEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func diskFullChild(t *testing.T, dir string) {
	db := openSeeded(t, filepath.Join(dir, "db.sqlite"))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	full := lim
	full.Cur = 0
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, db, "disk")
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	wantWorking(t, db, "once the limit is lifted")
}
