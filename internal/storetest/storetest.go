// Package storetest is the store conformance suite: the behaviour every
// store of ordersvc must have, written once and run against each of them
// (sqlite and postgres call Run from their tests). A behaviour tested on
// one store and not on the other is a gap; add it here.
//
// It is imported only by tests.
package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/tracing"
)

// Store is what the suite tests: the domain's ordersvc.Store.
type Store = ordersvc.Store

// DeliveryStatser is the optional diagnostics of the webhook delivery log.
type DeliveryStatser interface {
	DeliveryStats(ctx context.Context) (deliveries, truncated int64, err error)
}

// QueryObserver receives the duration of every query, as the stores'
// Options.Observer does.
type QueryObserver = tracing.QueryObserver

// Config is what a test asks of the store it opens.
type Config struct {
	// Currency is the ISO code the store stamps on orders.
	Currency string
	// Observer must receive every query's timing.
	Observer QueryObserver
}

// Opener opens a new, empty (migrated, not seeded) store for t, configured
// by cfg, and closes it when t ends.
type Opener func(t *testing.T, cfg Config) Store

// QueryLabels are the (operation, table) labels of db_query_duration_seconds,
// as "operation table", that every store reports, and no others.
func QueryLabels() []string {
	return []string{
		"delete alerts", "insert alert_deliveries", "insert alerts", "insert orders", "select alerts",
		"select heartbeat", "select order_totals", "select orders", "select products", "update alerts",
		"update heartbeat", "update products", "upsert order_totals", "upsert products",
	}
}

// Run runs the whole suite, each test on a store of its own.
func Run(t *testing.T, open Opener) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Orders", orderTests},
		{"Idempotency", idempotencyTests},
		{"Products", productTests},
		{"Reports", reportTests},
		{"Alerts", alertTests},
		{"Heartbeat", heartbeatTests},
		{"Store", storeTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, open Opener)
}

// Shared helpers.

const testCurrency = "EUR"

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openDefault(t *testing.T, open Opener) Store {
	return open(t, Config{Currency: testCurrency})
}

func upsert(t *testing.T, s Store, p ordersvc.Product) {
	t.Helper()
	if _, err := s.UpsertProduct(ctxFor(t), p); err != nil {
		t.Fatalf("upsert %s: %v", p.ID, err)
	}
}

func stockOf(t *testing.T, s Store, id string) int64 {
	t.Helper()
	for _, p := range allProducts(t, s) {
		if p.ID == id {
			return p.Stock
		}
	}
	t.Fatalf("product %s not listed", id)
	return 0
}

func summary(t *testing.T, s Store) ordersvc.Summary {
	t.Helper()
	sum, err := s.Summary(ctxFor(t))
	if err != nil {
		t.Fatalf("summary: %v", err)
	}
	return sum
}

// wantRefusal checks that err is an *ordersvc.Error of kind and reason.
func wantRefusal(t *testing.T, what string, err error, kind ordersvc.ErrorKind, reason ordersvc.RejectReason) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want a %s error", what, kind)
		return
	}
	if got := ordersvc.KindOf(err); got != kind {
		t.Errorf("%s: kind %s (%v), want %s", what, got, err, kind)
	}
	if got := ordersvc.ReasonOf(err); got != reason {
		t.Errorf("%s: reason %q (%v), want %q", what, got, err, reason)
	}
}

// parallel runs fn(i) for i in 0..n-1 at once and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// recorder is a QueryObserver that counts labels.
type recorder struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *recorder) ObserveQuery(operation, table string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[operation+" "+table]++
}

func (r *recorder) labels() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var l []string
	for k := range r.counts {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

// mustf fails the test with a formatted message when err is not nil.
func mustf(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// firstLine shortens an error for messages.
func firstLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
