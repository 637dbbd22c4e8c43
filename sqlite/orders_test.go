package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ordersvc/ordersvc"
)

// TestGroupCommitKeepsEachOrdersOutcome sends many orders at once, so that
// they are committed in groups, and checks that each one has the outcome
// it would have had alone: the orders of a product with little stock
// succeed until it runs out and the rest are 409s, unknown products are
// 404s without failing the others, concurrent requests with one
// idempotency key make one order, and stock and totals add up.
func TestGroupCommitKeepsEachOrdersOutcome(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "group.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const scarce = 10
	if _, err := db.SeedIfEmpty(ctx, []ordersvc.Product{
		{ID: "scarce", Name: "Scarce", UnitPrice: 100, Stock: scarce},
		{ID: "ample", Name: "Ample", UnitPrice: 250, Stock: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		n       ordersvc.NewOrder
		o       ordersvc.Order
		created bool
		err     error
	}
	var reqs []ordersvc.NewOrder
	for i := range 30 {
		reqs = append(reqs,
			ordersvc.NewOrder{ProductID: "scarce", Quantity: 1, Type: ordersvc.OrderOnline},
			ordersvc.NewOrder{ProductID: "ample", Quantity: 2, Type: ordersvc.OrderPhone, CustomerID: fmt.Sprint("c-", i)})
		if i%5 == 0 {
			reqs = append(reqs, ordersvc.NewOrder{ProductID: "missing", Quantity: 1, Type: ordersvc.OrderOnline},
				ordersvc.NewOrder{ProductID: "ample", Quantity: 1, Type: ordersvc.OrderInStore, IdempotencyKey: "same-key"})
		}
	}
	out := make([]outcome, len(reqs))
	var wg sync.WaitGroup
	for i, n := range reqs {
		wg.Go(func() {
			o, created, err := db.CreateOrder(ctx, n)
			out[i] = outcome{n, o, created, err}
		})
	}
	wg.Wait()

	var scarceOK, scarce409, ampleOK, missing404, keyedCreated, keyedReplays int
	keyedIDs := map[string]bool{}
	for _, r := range out {
		switch {
		case r.n.ProductID == "scarce" && r.err == nil && r.created:
			scarceOK++
		case r.n.ProductID == "scarce" && ordersvc.KindOf(r.err) == ordersvc.KindConflict:
			scarce409++
		case r.n.ProductID == "missing" && ordersvc.KindOf(r.err) == ordersvc.KindNotFound:
			missing404++
		case r.n.IdempotencyKey != "" && r.err == nil:
			keyedIDs[r.o.ID] = true
			if r.created {
				keyedCreated++
			} else {
				keyedReplays++
			}
		case r.n.ProductID == "ample" && r.err == nil && r.created:
			ampleOK++
		default:
			t.Errorf("unexpected outcome for %+v: %+v created=%v err=%v", r.n, r.o, r.created, r.err)
		}
	}
	if scarceOK != scarce || scarce409 != 30-scarce || ampleOK != 30 || missing404 != 6 ||
		keyedCreated != 1 || keyedReplays != 5 || len(keyedIDs) != 1 {
		t.Fatalf("scarce %d ok / %d 409, ample %d, missing %d, keyed %d created / %d replays / %d ids",
			scarceOK, scarce409, ampleOK, missing404, keyedCreated, keyedReplays, len(keyedIDs))
	}
	products, _, err := db.ProductPage(ctx, "", ordersvc.MaxProductPage)
	if err != nil {
		t.Fatal(err)
	}
	stock := map[string]int64{}
	for _, p := range products {
		stock[p.ID] = p.Stock
	}
	if stock["scarce"] != 0 || stock["ample"] != 1000-30*2-1 {
		t.Errorf("stock = %v", stock)
	}
	s, err := db.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(scarce + 30 + 1); s.Orders != want || s.TotalRevenue != ordersvc.SumOf(scarce*100+30*500+250) {
		t.Errorf("summary: %d orders, revenue %+v; want %d orders", s.Orders, s.TotalRevenue, want)
	}
}

// TestCancelledOrderInGroup: a caller whose context has ended gets an
// error and its order is not placed.
func TestCancelledOrderInGroup(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "cancel.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SeedIfEmpty(ctx, []ordersvc.Product{{ID: "p", Name: "P", UnitPrice: 100, Stock: 5}}); err != nil {
		t.Fatal(err)
	}
	// One order first, so the statements are prepared and the cancelled
	// call reaches the group.
	if _, _, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := db.CreateOrder(cancelled, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline}); ordersvc.KindOf(err) != ordersvc.KindUnavailable {
		t.Fatalf("err = %v, want KindUnavailable", err)
	}
	if s, _ := db.Summary(ctx); s.Orders != 1 {
		t.Fatalf("%d orders placed", s.Orders)
	}
	// The queue is not stuck.
	if _, created, err := db.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "p", Quantity: 1, Type: ordersvc.OrderOnline}); err != nil || !created {
		t.Fatalf("next order: %v %v", created, err)
	}
}
