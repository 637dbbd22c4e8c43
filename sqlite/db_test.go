package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

type observed struct {
	mu  sync.Mutex
	ops map[string]int
}

func (o *observed) ObserveQuery(op, table string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops[op+" "+table]++
}

func TestMigrationsAreIdempotentAndQueriesTimed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "db.sqlite")
	obs := &observed{ops: map[string]int{}}
	ctx := context.Background()
	db, err := Open(ctx, path, Options{Observer: obs, Currency: "EUR"})
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
	db, err = Open(ctx, path, Options{Observer: obs})
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
	for _, op := range []string{"update products", "insert orders", "select orders", "select products"} {
		if obs.ops[op] == 0 {
			t.Errorf("query %q was not timed: %v", op, obs.ops)
		}
	}
}

func TestCatalogIsBounded(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < ordersvc.MaxProducts; i++ {
		p := ordersvc.Product{ID: "p-" + time.Duration(i).String(), Name: "n", UnitPrice: 1, Stock: 1}
		if _, err := db.UpsertProduct(ctx, p); err != nil {
			t.Fatalf("product %d: %v", i, err)
		}
	}
	_, err = db.UpsertProduct(ctx, ordersvc.Product{ID: "one-too-many", Name: "n", UnitPrice: 1, Stock: 1})
	if ordersvc.KindOf(err) != ordersvc.KindConflict {
		t.Errorf("catalog over %d products: %v, want a conflict", ordersvc.MaxProducts, err)
	}
	// Updating an existing product is still allowed.
	if created, err := db.UpsertProduct(ctx, ordersvc.Product{ID: "p-0s", Name: "m", UnitPrice: 2, Stock: 0}); err != nil || created {
		t.Errorf("update in a full catalog: %v %v", created, err)
	}
}
