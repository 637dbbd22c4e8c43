package tests

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// faultRecoverTimeout bounds how long the service may take to recover by
// itself once a fault is removed (a readiness probe or a write notices).
const faultRecoverTimeout = 10 * time.Second

// faultProduct is the product every store-fault case orders.
const faultProduct = "fault-1"

// faultCase is one store fault under a running service: its orders
// acknowledged so far, and how to start it again on the same database.
type faultCase struct {
	t      *testing.T
	svc    *testkit.ServiceProc
	opts   testkit.ServiceProcOptions
	starts int
	acked  []string // ids of orders answered 201
}

// startFaultCase starts the service with o, creates faultProduct and
// places three orders.
func startFaultCase(t *testing.T, o testkit.ServiceProcOptions) *faultCase {
	t.Helper()
	fc := &faultCase{t: t, opts: o}
	fc.restart(false)
	fc.createProduct()
	fc.order(3)
	return fc
}

// createProduct creates faultProduct.
func (fc *faultCase) createProduct() {
	fc.t.Helper()
	r, err := fc.svc.Admin(http.MethodPut, "/inventory/"+faultProduct, []byte(`{"name":"fault product","unit_price":2.5,"stock":1000}`))
	if err != nil || r.Status != http.StatusCreated {
		fc.t.Fatalf("create %s: %v %v", faultProduct, r, err)
	}
}

// restart stops the running service gracefully, if any, and starts it
// again on the same database; with faulted, it does not wait for
// readiness.
func (fc *faultCase) restart(faulted bool) {
	fc.t.Helper()
	if fc.svc != nil && !fc.svc.Exited() {
		if err := fc.svc.Stop(); err != nil {
			fc.t.Errorf("stop %s: %v", fc.svc.Name, err)
		}
	}
	fc.starts++
	o := fc.opts
	o.Name = fmt.Sprintf("ordersvc-%d", fc.starts)
	o.NoWaitReady = faulted
	fc.svc = testkit.StartServiceProc(fc.t, o)
	fc.opts.DBPath = fc.svc.DBPath
}

// order places n orders that must be acknowledged.
func (fc *faultCase) order(n int) []string {
	fc.t.Helper()
	var ids []string
	for range n {
		r, err := fc.svc.Send(http.MethodPost, "/orders", []byte(`{"product_id":"`+faultProduct+`","quantity":1,"type":"online"}`))
		if err != nil || r.Status != http.StatusCreated {
			fc.t.Fatalf("POST /orders: %v %v", r, err)
		}
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Body, &o); err != nil || o.ID == "" {
			fc.t.Fatalf("POST /orders: %s: %v", r, err)
		}
		ids = append(ids, o.ID)
	}
	fc.acked = append(fc.acked, ids...)
	return ids
}

// expectFaulted checks the service under a store fault: every kind of
// write answers 503 with a problem detail that contains detail (never a
// 201 or another 2xx), /readyz answers 503 and db_up is 0. Writes come
// first: some faults (a full disk) show only when a write fails.
func (fc *faultCase) expectFaulted(detail string) {
	t := fc.t
	t.Helper()
	order := []byte(`{"product_id":"` + faultProduct + `","quantity":1,"type":"online"}`)
	writes := []struct {
		name string
		send func() (*testkit.Response, error)
	}{
		{"POST /orders", func() (*testkit.Response, error) { return fc.svc.Send(http.MethodPost, "/orders", order) }},
		{"POST /orders (keyed)", func() (*testkit.Response, error) {
			return fc.svc.Send(http.MethodPost, "/orders", order, "Idempotency-Key", "fault-"+strconv.Itoa(fc.starts))
		}},
		{"PUT /inventory", func() (*testkit.Response, error) {
			return fc.svc.Admin(http.MethodPut, "/inventory/fault-new", []byte(`{"name":"n","unit_price":1,"stock":1}`))
		}},
		{"POST /webhooks/alertmanager", func() (*testkit.Response, error) {
			return fc.svc.Webhook(alertNotification("fault"+strconv.Itoa(fc.starts), 0))
		}},
	}
	for _, w := range writes {
		r, err := w.send()
		if err != nil {
			t.Errorf("%s under the fault: %v", w.name, err)
			continue
		}
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("%s under the fault: %s, want 503", w.name, r)
			continue
		}
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: Content-Type %q, want application/problem+json", w.name, ct)
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Detail, detail) {
			t.Errorf("%s: problem %s (%v), want status 503 and a detail that says %q", w.name, r.Body, err, detail)
		}
	}
	if r, err := fc.svc.Send(http.MethodGet, "/readyz", nil); err != nil || r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz under the fault: %v %v, want 503", r, err)
	}
	if up := fc.svc.Gauge(t, "db_up"); up != 0 {
		t.Errorf("db_up under the fault = %v, want 0", up)
	}
}

// expectRecovered waits until the service recovers by itself (readiness
// 200, db_up 1) and places an order.
func (fc *faultCase) expectRecovered() time.Duration {
	fc.t.Helper()
	took := testkit.WaitFor(fc.t, "the service recovers by itself", faultRecoverTimeout, func() (bool, string) {
		r, err := fc.svc.Send(http.MethodGet, "/readyz", nil)
		if err != nil {
			return false, err.Error()
		}
		return r.Status == http.StatusOK, r.String()
	})
	if up := fc.svc.Gauge(fc.t, "db_up"); up != 1 {
		fc.t.Errorf("db_up after recovery = %v, want 1", up)
	}
	fc.order(1)
	return took
}

// expectOrders checks that every order in ids reads back with a 200.
func (fc *faultCase) expectOrders(ids []string, when string) {
	fc.t.Helper()
	for _, id := range ids {
		if r, err := fc.svc.Send(http.MethodGet, "/orders/"+id, nil); err != nil || r.Status != http.StatusOK {
			fc.t.Errorf("%s: acknowledged order %s: %v %v", when, id, r, err)
		}
	}
}

// finish stops the service and checks the database file's integrity.
func (fc *faultCase) finish() {
	fc.t.Helper()
	if err := fc.svc.Stop(); err != nil {
		fc.t.Errorf("stop %s: %v", fc.svc.Name, err)
	}
	checkIntegrity(fc.t, openDBFile(fc.t, fc.opts.DBPath))
}

// TestStoreFaults runs the service binary through faults of its SQLite
// file (issue #10): each answers writes with 503 and a clear problem
// detail, fails readiness and db_up, never acknowledges a write it then
// loses, and recovers by itself when the fault is removed where that is
// possible.
func TestStoreFaults(t *testing.T) {
	bin := testkit.ServiceBinary(t)

	t.Run("removed", func(t *testing.T) {
		began := time.Now()
		fc := startFaultCase(t, testkit.ServiceProcOptions{Bin: bin})
		before := len(fc.acked)
		if err := os.Remove(fc.svc.DBPath); err != nil {
			t.Fatal(err)
		}
		fc.expectFaulted("removed")
		if _, err := os.Stat(fc.svc.DBPath); err == nil {
			t.Errorf("the service re-created the removed database file")
		}
		// The removed file took its orders with it; a restart opens a new
		// database. No order was acknowledged after the removal.
		fc.restart(false)
		fc.createProduct()
		fc.order(1)
		fc.finish()
		t.Logf("removed: %d orders acknowledged before the removal (gone with the file), 0 after; restart opened a new database; %s",
			before, time.Since(began).Round(time.Millisecond))
	})

	t.Run("replaced", func(t *testing.T) {
		began := time.Now()
		fc := startFaultCase(t, testkit.ServiceProcOptions{Bin: bin})
		backup := filepath.Join(t.TempDir(), "backup.db")
		vacuumInto(t, fc.svc.DBPath, backup)
		inBackup := append([]string(nil), fc.acked...)
		afterBackup := fc.order(2)
		if err := os.Rename(backup, fc.svc.DBPath); err != nil {
			t.Fatal(err)
		}
		fc.expectFaulted("replaced")
		fc.expectOrders(inBackup, "replaced, still running")
		// A restart, even after a crash, opens the restored file: what the
		// backup holds is there, the orders placed after the backup went
		// with the old file, and the old file's WAL, still at the path, is
		// not replayed onto the backup.
		fc.svc.Kill()
		fc.restart(false)
		fc.expectOrders(inBackup, "restarted on the restored backup")
		for _, id := range afterBackup {
			if r, err := fc.svc.Send(http.MethodGet, "/orders/"+id, nil); err != nil || r.Status != http.StatusNotFound {
				t.Errorf("order %s, placed after the backup, on the restored backup: %v %v, want 404", id, r, err)
			}
		}
		fc.order(1)
		fc.finish()
		t.Logf("replaced: %d orders in the backup found after the restart, %d placed after the backup gone with the replaced file, 0 acknowledged after the replacement; %s",
			len(inBackup), len(afterBackup), time.Since(began).Round(time.Millisecond))
	})

	t.Run("read-only", func(t *testing.T) {
		began := time.Now()
		o := unprivilegedService(t, bin)
		fc := startFaultCase(t, o)
		path := fc.svc.DBPath
		chmod(t, path, 0o444)
		fc.expectFaulted("read-only")
		fc.expectOrders(fc.acked, "read-only, reads")
		chmod(t, path, 0o644)
		inPlace := fc.expectRecovered()

		// Started on a read-only file, the service serves reads and
		// refuses writes; once the file is writable, a restart recovers
		// (SQLite created the -wal and -shm files read-only, like the
		// database file, and maps the WAL index read-only until every
		// connection is closed).
		chmod(t, path, 0o444)
		fc.restart(true)
		fc.expectFaulted("read-only")
		fc.expectOrders(fc.acked, "started read-only, reads")
		chmod(t, path, 0o644)
		fc.restart(false)
		fc.order(1)
		fc.expectOrders(fc.acked, "restarted after the read-only faults")
		fc.finish()
		t.Logf("read-only (running as uid %d): recovered by itself %s after chmod 0644; started read-only, recovered by a restart; %d orders acknowledged, all found; %s",
			o.SysProcAttr.Credential.Uid, inPlace.Round(time.Millisecond), len(fc.acked), time.Since(began).Round(time.Millisecond))
	})

	t.Run("disk full", func(t *testing.T) {
		began := time.Now()
		fc := startFaultCase(t, testkit.ServiceProcOptions{Bin: bin})
		// RLIMIT_FSIZE 0: no write to any file succeeds (EFBIG), as on a
		// full disk; the Go runtime ignores the SIGXFSZ that comes with it.
		if err := testkit.SetFileSizeLimit(fc.svc.PID(), 0); err != nil {
			t.Fatal(err)
		}
		fc.expectFaulted("disk")
		if fc.svc.Exited() {
			t.Fatalf("the service died of the file size limit: %v", fc.svc.WaitErr())
		}
		if err := testkit.SetFileSizeLimit(fc.svc.PID(), testkit.Unlimited); err != nil {
			t.Fatal(err)
		}
		recovered := fc.expectRecovered()
		fc.restart(false)
		fc.expectOrders(fc.acked, "restarted after the full disk")
		fc.finish()
		t.Logf("disk full (RLIMIT_FSIZE 0): recovered %s after the limit was lifted; %d orders acknowledged, all found after a restart; %s",
			recovered.Round(time.Millisecond), len(fc.acked), time.Since(began).Round(time.Millisecond))
	})
}

// unprivilegedService returns options that run a copy of bin as an
// unprivileged user (nobody) in a directory it owns, so that file
// permissions apply to it: root ignores them. Run as another user, it
// runs as that user.
func unprivilegedService(t *testing.T, bin string) testkit.ServiceProcOptions {
	t.Helper()
	dir, err := os.MkdirTemp("", "ordersvc-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("look up the user nobody: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	// The service binary's own directory is private to root: copy it.
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	copyBin := filepath.Join(dir, "ordersvc")
	if err := os.WriteFile(copyBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, data} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return testkit.ServiceProcOptions{
		Bin: copyBin, Dir: data, DBPath: filepath.Join(data, "ordersvc.db"),
		SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}},
	}
}

// vacuumInto writes a consistent copy of the live database at path to
// dest, as a backup tool would.
func vacuumInto(t *testing.T, path, dest string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("VACUUM INTO ?", dest); err != nil {
		t.Fatalf("VACUUM INTO %s: %v", dest, err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
