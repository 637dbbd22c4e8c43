package sqlite

import (
	"context"
	"path/filepath"
	"testing"

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
