package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/testkit/pgtest"
)

// TestOutageIsUnavailableAndRecovers stops the server under an open DB:
// every operation fails as KindUnavailable (503, never 500); after a
// restart the same DB works again without being reopened.
func TestOutageIsUnavailableAndRecovers(t *testing.T) {
	srv := pgtest.StartServer(t) // its own server: stopping it disturbs no other test
	db, err := Open(context.Background(), srv.NewDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	if _, err := db.SeedIfEmpty(ctx, ordersvc.DemoCatalog()); err != nil {
		t.Fatal(err)
	}
	alert := ordersvc.Alert{Fingerprint: "f1", Status: ordersvc.AlertFiring, StartsAt: time.Unix(1e9, 0).UTC(),
		Labels: map[string]string{"alertname": "X"}, Annotations: map[string]string{}}
	ops := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"ping", db.Ping},
		{"create order", func(ctx context.Context) error {
			_, _, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline})
			return err
		}},
		{"create order with a key", func(ctx context.Context) error {
			_, _, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline, IdempotencyKey: "k"})
			return err
		}},
		{"read order", func(ctx context.Context) error {
			_, err := db.Order(ctx, "ord_x")
			if ordersvc.KindOf(err) == ordersvc.KindNotFound {
				return nil
			}
			return err
		}},
		{"products", func(ctx context.Context) error { _, _, err := db.ProductPage(ctx, "", 10); return err }},
		{"product stocks", func(ctx context.Context) error {
			return db.ProductStocks(ctx, func(string, int64) error { return nil })
		}},
		{"upsert product", func(ctx context.Context) error {
			_, err := db.UpsertProduct(ctx, ordersvc.Product{ID: "sku-9", Name: "n", UnitPrice: 1, Stock: 1})
			return err
		}},
		{"summary", func(ctx context.Context) error { _, err := db.Summary(ctx); return err }},
		{"record alerts", func(ctx context.Context) error {
			_, err := db.RecordAlerts(ctx, ordersvc.AlertNotification{Receiver: "r", Status: ordersvc.AlertFiring, Alerts: []ordersvc.Alert{alert}}, time.Now())
			return err
		}},
		{"alerts", func(ctx context.Context) error { _, err := db.Alerts(ctx, ordersvc.AlertFilter{}); return err }},
	}
	runAll := func(phase string, want func(name string, err error)) {
		for _, op := range ops {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			want(op.name, op.run(ctx))
			cancel()
		}
	}
	runAll("before the outage", func(name string, err error) {
		if err != nil {
			t.Fatalf("before the outage: %s: %v", name, err)
		}
	})

	if err := srv.Stop(); err != nil {
		t.Fatalf("stop the server: %v", err)
	}
	start := time.Now()
	runAll("during the outage", func(name string, err error) {
		if ordersvc.KindOf(err) != ordersvc.KindUnavailable {
			t.Errorf("during the outage: %s: %v (kind %s), want unavailable", name, err, ordersvc.KindOf(err))
		}
	})
	t.Logf("%d operations failed as unavailable in %s", len(ops), time.Since(start).Round(time.Millisecond))

	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart the server: %v", err)
	}
	// The pool replaces its broken connections on use; give it a moment.
	deadline := time.Now().Add(10 * time.Second)
	for db.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the DB did not recover within 10s of the restart: %v", db.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	runAll("after the restart", func(name string, err error) {
		if err != nil {
			t.Errorf("after the restart: %s: %v", name, err)
		}
	})
	// Two orders before the outage, one after (the keyed one is a replay).
	if s, err := db.Summary(ctx); err != nil || s.Orders != 3 {
		t.Errorf("after the restart: summary %+v, %v; want 3 orders", s, err)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://user:s3cret@db:5432/app?sslmode=disable", "postgres://user:xxxxx@db:5432/app?sslmode=disable"},
		{"postgresql://user@db/app", "postgresql://user@db/app"},
		{"postgres://db/app?password=s3cret&sslmode=require", "postgres://db/app?password=xxxxx&sslmode=require"},
		{"postgres://user:s3%2Fcret@db/app", "postgres://user:xxxxx@db/app"},
		{"postgres://user:s3cret@db:notaport/app", "postgres://(unparsable URL)"},
		{"postgres://user:pa/s3cret@db/app", ""}, // parses oddly; only the secret matters
	} {
		got := RedactURL(tc.in)
		if strings.Contains(got, "s3cret") || strings.Contains(got, "s3/cret") {
			t.Errorf("RedactURL(%q) = %q: leaks the password", tc.in, got)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestOpenErrorsHideThePassword opens URLs that fail in each way Open can
// fail; no error may contain the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	srv := pg.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, url := range []string{
		"postgres://user:s3cret@127.0.0.1:notaport/app",                        // does not parse
		"postgres://user:s3cret@127.0.0.1:1/app?connect_timeout=2",             // nothing listens
		"postgres://user:s3cret@127.0.0.1:1/app?sslmode=bogus",                 // a bad option
		"postgres://db/app?password=s3cret&pool_max_conns=x",                   // a bad pool option
		"mysql://user:s3cret@db/app",                                           // not PostgreSQL
		srv.URL("no_such_database") + "&password=s3cret",                       // connects, then fails
		strings.Replace(srv.URL("postgres"), "postgres@", "nobody:s3cret@", 1), // unknown role
	} {
		db, err := Open(ctx, url, Options{})
		if err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded", RedactURL(url))
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") {
			t.Errorf("Open error leaks the password: %s", msg)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{fmt.Errorf("wrapped: %w", unavailable(&pgconn.PgError{Code: "40001"}, "x")), true},
		{&pgconn.PgError{Code: "23505"}, false}, // unique_violation
		{&pgconn.PgError{Code: "57P01"}, false}, // admin_shutdown: the statement may have run
		{io.ErrUnexpectedEOF, false},
		{ordersvc.OutOfStock("x", 1, 0), false},
		{errors.New("other"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestTransientFailuresAreRetried runs transactions that fail with
// serialization failures: a few are retried away, endless ones give up
// after maxAttempts, other errors are not retried.
func TestTransientFailuresAreRetried(t *testing.T) {
	db := openTestDB(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		failures  int
		code      string
		wantCalls int
		wantErr   bool
	}{
		{"no failure", 0, "40001", 1, false},
		{"two serialization failures", 2, "40001", 3, false},
		{"a deadlock", 1, "40P01", 2, false},
		{"endless serialization failures", 100, "40001", maxAttempts, true},
		{"a unique violation", 1, "23505", 1, true},
	} {
		calls := 0
		err := db.inTx(ctx, tc.name, func(tx pgx.Tx) error {
			calls++
			if calls <= tc.failures {
				return unavailable(&pgconn.PgError{Code: tc.code}, "test")
			}
			_, err := tx.Exec(ctx, "SELECT 1")
			return err
		})
		if calls != tc.wantCalls || (err != nil) != tc.wantErr {
			t.Errorf("%s: %d calls, err %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.wantErr)
		}
	}
}

func TestPoolStats(t *testing.T) {
	db := openTestDB(t, Options{MaxConns: 3})
	ctx := context.Background()
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stats := db.PoolStats()
	conn.Release()
	if len(stats) != 1 || stats[0].Pool != "main" {
		t.Fatalf("PoolStats = %+v, want one pool named main", stats)
	}
	inUse, idle := stats[0].InUse, stats[0].Idle
	if inUse != 1 || idle < 0 || inUse+idle > 3 {
		t.Errorf("PoolStats with one connection held = %d in use, %d idle; want 1 in use, at most 3 in all", inUse, idle)
	}
	if st := db.PoolStats()[0]; st.InUse != 0 || st.Idle < 1 {
		inUse, idle := st.InUse, st.Idle
		t.Errorf("PoolStats after release = %d in use, %d idle; want 0, ≥1", inUse, idle)
	}
}

// TestSummaryIsExactBeyondInt64: the totals' slots carry into a second
// limb, so a revenue no bigint holds is still reported exactly.
func TestSummaryIsExactBeyondInt64(t *testing.T) {
	db := openTestDB(t, Options{})
	ctx := context.Background()
	if _, err := db.UpsertProduct(ctx, ordersvc.Product{ID: "p", Name: "P", UnitPrice: ordersvc.MaxMoney, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	// As if 9.2·10^7 orders at the cap had come before, spread over two
	// slots whose low limbs together overflow a bigint.
	if _, err := db.pool.Exec(ctx, `INSERT INTO order_totals (type, slot, orders, revenue_hi, revenue_lo) VALUES
		('online', 100, 1, 4, 999999999999999999), ('online', 101, 1, 5, 999999999999999999)`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline}); err != nil {
		t.Fatal(err)
	}
	s, err := db.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// (4+5)·10^18 + 2·(10^18 − 1) + 10^11 = 11·10^18 + 10^11 − 2 minor units.
	want := ordersvc.Sum{Hi: 11, Lo: int64(ordersvc.MaxMoney) - 2}
	if s.Revenue[ordersvc.OrderOnline] != want || s.TotalRevenue != want || s.Orders != 3 {
		t.Errorf("summary revenue %+v total %+v orders %d, want %+v and 3", s.Revenue[ordersvc.OrderOnline], s.TotalRevenue, s.Orders, want)
	}
}
