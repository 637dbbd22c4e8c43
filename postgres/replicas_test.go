package postgres

import (
	"context"
	"io/fs"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

// openReplicas opens n DBs on one new database at once, as n replicas
// starting together would: every one migrates concurrently.
func openReplicas(t *testing.T, n int) []*DB {
	t.Helper()
	url := pg.Server(t).NewDatabase(t)
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(context.Background(), url, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: open: %v", i, err)
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	return dbs
}

func TestReplicasMigrateAndSeedOnce(t *testing.T) {
	const replicas = 4
	dbs := openReplicas(t, replicas)
	ctx := context.Background()

	var applied int
	if err := dbs[0].pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrationFS, "migrations/*.sql")
	if applied != len(files) {
		t.Errorf("%d migrations recorded, want %d (each once)", applied, len(files))
	}

	var seeded atomic.Int64
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.SeedIfEmpty(ctx, ordersvc.DemoCatalog())
			if err != nil {
				t.Errorf("replica %d: seed: %v", i, err)
			}
			if ok {
				seeded.Add(1)
			}
		}()
	}
	wg.Wait()
	if seeded.Load() != 1 {
		t.Errorf("%d of %d replicas seeded, want exactly 1", seeded.Load(), replicas)
	}
	for i, db := range dbs {
		products, _, err := db.ProductPage(ctx, "", ordersvc.MaxProductPage)
		if err != nil || !reflect.DeepEqual(products, ordersvc.DemoCatalog()) {
			t.Errorf("replica %d sees %+v, %v; want the demo catalog once", i, products, err)
		}
	}
}

func TestReplicasNeverOversell(t *testing.T) {
	const orders, stock = 200, 50
	dbs := openReplicas(t, 2)
	ctx := context.Background()
	if _, err := dbs[0].UpsertProduct(ctx, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: stock}); err != nil {
		t.Fatal(err)
	}
	var created, refused, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := dbs[i%2].CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline})
			switch {
			case err == nil && ok:
				created.Add(1)
			case ordersvc.ReasonOf(err) == ordersvc.RejectOutOfStock:
				refused.Add(1)
			default:
				failed.Add(1)
				t.Logf("order %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if created.Load() != stock || refused.Load() != orders-stock || failed.Load() != 0 {
		t.Errorf("two replicas, %d orders of 1 against %d: %d created, %d out of stock, %d failed",
			orders, stock, created.Load(), refused.Load(), failed.Load())
	}
	for i, db := range dbs {
		s, err := db.Summary(ctx)
		if err != nil || s.Orders != stock {
			t.Errorf("replica %d: summary %+v, %v; want %d orders", i, s, err, stock)
		}
	}
}

func TestReplicasShareIdempotencyKeys(t *testing.T) {
	const callers = 20
	dbs := openReplicas(t, 2)
	ctx := context.Background()
	if _, err := dbs[0].UpsertProduct(ctx, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 1000}); err != nil {
		t.Fatal(err)
	}
	n := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 2, Type: ordersvc.OrderOnline, IdempotencyKey: "one-key"}
	var mu sync.Mutex
	ids := map[string]bool{}
	created := 0
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, ok, err := dbs[i%2].CreateOrder(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			ids[o.ID] = true
			if ok {
				created++
			}
		}()
	}
	wg.Wait()
	if created != 1 || len(ids) != 1 {
		t.Errorf("one key on two replicas: %d created, ids %v; want one order", created, ids)
	}
	other := n
	other.Quantity = 3
	if _, _, err := dbs[1].CreateOrder(ctx, other); ordersvc.KindOf(err) != ordersvc.KindInvalid {
		t.Errorf("the key with another body on the other replica: %v, want IdempotencyMismatch", err)
	}
}

func TestReplicasRecordAnAlertOnce(t *testing.T) {
	const deliveries = 10
	dbs := openReplicas(t, 2)
	ctx := context.Background()
	starts := time.Date(2026, 11, 21, 10, 0, 0, 1, time.UTC)
	n := ordersvc.AlertNotification{Receiver: "paging", Status: ordersvc.AlertFiring, GroupKey: "{}", Alerts: []ordersvc.Alert{
		{Fingerprint: "f1", Status: ordersvc.AlertFiring, StartsAt: starts, Labels: map[string]string{"alertname": "X"}, Annotations: map[string]string{}},
		{Fingerprint: "f2", Status: ordersvc.AlertFiring, StartsAt: starts, Labels: map[string]string{"alertname": "Y"}, Annotations: map[string]string{}},
	}}
	reversed := n
	reversed.Alerts = []ordersvc.Alert{n.Alerts[1], n.Alerts[0]} // lock order must not deadlock
	var newChanges atomic.Int64
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			note := n
			if i%2 == 1 {
				note = reversed
			}
			changes, err := dbs[i%2].RecordAlerts(ctx, note, starts.Add(time.Duration(i)*time.Second))
			if err != nil {
				t.Errorf("delivery %d: %v", i, err)
				return
			}
			for _, ch := range changes {
				if ch.New {
					newChanges.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	list, err := dbs[0].Alerts(ctx, ordersvc.AlertFilter{Limit: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("records = %+v, %v; want 2", list, err)
	}
	for _, a := range list {
		if a.Deliveries != deliveries {
			t.Errorf("%s: %d deliveries, want %d", a.Fingerprint, a.Deliveries, deliveries)
		}
	}
	if newChanges.Load() != 2 {
		t.Errorf("%d new changes, want 2 (one per alert, whichever replica)", newChanges.Load())
	}
}
