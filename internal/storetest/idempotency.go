package storetest

import (
	"reflect"
	"sync"
	"testing"

	"github.com/ordersvc/ordersvc"
)

var idempotencyTests = []test{
	{"Replay", testReplay},
	{"Mismatch", testMismatch},
	{"ReplayAfterStockRunsOut", testReplayAfterStockRunsOut},
	{"ConcurrentSameKey", testConcurrentSameKey},
	{"ConcurrentSameKeyTwoBodies", testConcurrentSameKeyTwoBodies},
	{"KeysAreIndependent", testKeysAreIndependent},
}

func testReplay(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 250, Stock: 10})
	n := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 2, Type: ordersvc.OrderOnline, CustomerID: "c-1", IdempotencyKey: "key-1"}
	first, created, err := s.CreateOrder(ctx, n)
	mustf(t, err, "first request")
	if !created {
		t.Fatal("first request: created = false")
	}
	for i := range 3 {
		again, created, err := s.CreateOrder(ctx, n)
		mustf(t, err, "retry %d", i+1)
		if created || !reflect.DeepEqual(again, first) {
			t.Errorf("retry %d: created=%v\n  %+v\nwant the original\n  %+v", i+1, created, again, first)
		}
	}
	if stock := stockOf(t, s, "sku-1"); stock != 8 {
		t.Errorf("stock = %d after one order of 2 and its retries, want 8", stock)
	}
	if sum := summary(t, s); sum.Orders != 1 || sum.TotalRevenue != ordersvc.SumOf(500) {
		t.Errorf("summary: %d orders, revenue %v; want 1, 5", sum.Orders, sum.TotalRevenue)
	}
}

func testMismatch(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 250, Stock: 10})
	upsert(t, s, ordersvc.Product{ID: "sku-2", Name: "Mug", UnitPrice: 100, Stock: 10})
	n := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 2, Type: ordersvc.OrderOnline, CustomerID: "c-1", IdempotencyKey: "key-1"}
	_, _, err := s.CreateOrder(ctx, n)
	mustf(t, err, "first request")
	for _, tc := range []struct {
		name string
		edit func(*ordersvc.NewOrder)
	}{
		{"another quantity", func(n *ordersvc.NewOrder) { n.Quantity = 3 }},
		{"another product", func(n *ordersvc.NewOrder) { n.ProductID = "sku-2" }},
		{"an unknown product", func(n *ordersvc.NewOrder) { n.ProductID = "sku-404" }},
		{"another type", func(n *ordersvc.NewOrder) { n.Type = ordersvc.OrderPhone }},
		{"another customer", func(n *ordersvc.NewOrder) { n.CustomerID = "c-2" }},
		{"no customer", func(n *ordersvc.NewOrder) { n.CustomerID = "" }},
	} {
		other := n
		tc.edit(&other)
		_, _, err := s.CreateOrder(ctx, other)
		wantRefusal(t, tc.name, err, ordersvc.KindInvalid, ordersvc.RejectInvalid)
		if e, ok := ordersvc.AsError(err); ok && e.Message != ordersvc.IdempotencyMismatchMessage {
			t.Errorf("%s: message %q, want %q", tc.name, e.Message, ordersvc.IdempotencyMismatchMessage)
		}
	}
	if a, b := stockOf(t, s, "sku-1"), stockOf(t, s, "sku-2"); a != 8 || b != 10 {
		t.Errorf("stock = %d, %d after refused mismatches, want 8, 10", a, b)
	}
}

// testReplayAfterStockRunsOut: the retry of an order that took the last
// units is its replay, not an out-of-stock refusal.
func testReplayAfterStockRunsOut(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 250, Stock: 2})
	n := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 2, Type: ordersvc.OrderOnline, IdempotencyKey: "last-units"}
	first, _, err := s.CreateOrder(ctx, n)
	mustf(t, err, "first request")
	again, created, err := s.CreateOrder(ctx, n)
	if err != nil || created || again.ID != first.ID {
		t.Errorf("retry with no stock left: %s created=%v %v, want the replay of %s", again.ID, created, err, first.ID)
	}
}

// testConcurrentSameKey sends one request with one key from 20 goroutines
// at once: one order is created, every caller gets it.
func testConcurrentSameKey(t *testing.T, open Opener) {
	const callers = 20
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 250, Stock: 100})
	n := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 3, Type: ordersvc.OrderInStore, IdempotencyKey: "same-key"}
	var mu sync.Mutex
	ids := map[string]int{}
	created := 0
	var errs []error
	parallel(callers, func(int) {
		o, c, err := s.CreateOrder(ctx, n)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		ids[o.ID]++
		if c {
			created++
		}
	})
	if len(errs) > 0 {
		t.Errorf("%d of %d callers failed; first: %v", len(errs), callers, errs[0])
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d callers with one key: %d created, ids %v; want 1 created, one id", callers, created, ids)
	}
	if stock := stockOf(t, s, "sku-1"); stock != 97 {
		t.Errorf("stock = %d, want 97 (one order of 3)", stock)
	}
	if sum := summary(t, s); sum.Orders != 1 {
		t.Errorf("%d orders stored, want 1", sum.Orders)
	}
}

// testConcurrentSameKeyTwoBodies races two different bodies on one key:
// one order is created; callers with its body get the replay, the others
// IdempotencyMismatch.
func testConcurrentSameKeyTwoBodies(t *testing.T, open Opener) {
	const callers = 20
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 250, Stock: 100})
	upsert(t, s, ordersvc.Product{ID: "sku-2", Name: "Mug", UnitPrice: 100, Stock: 100})
	bodies := []ordersvc.NewOrder{
		{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline, IdempotencyKey: "contested"},
		{ProductID: "sku-2", Quantity: 2, Type: ordersvc.OrderOnline, IdempotencyKey: "contested"},
	}
	type result struct {
		body    int
		id      string
		created bool
		err     error
	}
	results := make([]result, callers)
	parallel(callers, func(i int) {
		o, c, err := s.CreateOrder(ctx, bodies[i%2])
		results[i] = result{i % 2, o.ID, c, err}
	})
	winner := -1
	for _, r := range results {
		if r.created {
			if winner >= 0 {
				t.Fatalf("two orders created for one key: %+v", results)
			}
			winner = r.body
		}
	}
	if winner < 0 {
		t.Fatalf("no order created: %+v", results)
	}
	var winnerID string
	for _, r := range results {
		if r.body == winner && r.err == nil {
			if winnerID == "" {
				winnerID = r.id
			}
			if r.id != winnerID {
				t.Errorf("callers with the winning body got orders %s and %s", winnerID, r.id)
			}
			continue
		}
		if r.body == winner {
			t.Errorf("caller with the winning body: %v, want the order", r.err)
			continue
		}
		wantRefusal(t, "caller with the losing body", r.err, ordersvc.KindInvalid, ordersvc.RejectInvalid)
	}
	if sum := summary(t, s); sum.Orders != 1 {
		t.Errorf("%d orders stored, want 1", sum.Orders)
	}
}

func testKeysAreIndependent(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 250, Stock: 100})
	n := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline}
	seen := map[string]bool{}
	for _, key := range []string{"a", "b", "A", "a ", ""} {
		n.IdempotencyKey = key
		o, created, err := s.CreateOrder(ctx, n)
		mustf(t, err, "key %q", key)
		if !created || seen[o.ID] {
			t.Errorf("key %q: created=%v id=%s, want a new order", key, created, o.ID)
		}
		seen[o.ID] = true
	}
}
