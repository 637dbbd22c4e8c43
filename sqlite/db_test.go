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

func TestPathFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite://data/ordersvc.db":  "data/ordersvc.db",
		"sqlite:///var/lib/x.db":     "/var/lib/x.db",
		"sqlite://./a/../b.db":       "b.db",
		"sqlite://with%20space/x.db": "with space/x.db",
	} {
		got, err := PathFromURL(in)
		if err != nil || got != want {
			t.Errorf("PathFromURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"postgres://x", "sqlite://", "sqlite://dir/", "sqlite://:memory:", "sqlite://x.db?mode=ro", "data.db"} {
		if _, err := PathFromURL(bad); err == nil {
			t.Errorf("PathFromURL(%q) accepted", bad)
		}
	}
}

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
	if err != nil || s.Orders != 1 || s.Revenue[ordersvc.OrderInStore] != 1050 {
		t.Errorf("summary = %+v, %v", s, err)
	}
	if got, err := db.Order(ctx, o.ID); err != nil || got != o {
		t.Errorf("order after reopen = %+v, %v; want %+v", got, err, o)
	}
}
