package tests

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to read the database file after the service stopped

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// Bounds of the crash test: at least minKills SIGKILLs, at most maxKills,
// and no new round once the budget is spent (the whole test stays well
// under 90s on two cores).
const (
	crashMinKills   = 20
	crashMaxKills   = 30
	crashBudget     = 60 * time.Second
	crashWorkers    = 8
	crashMaxDelay   = 300 * time.Millisecond
	crashProducts   = 4
	crashStartStock = 1_000_000
	crashUnitPrice  = "1.25" // 125 minor units
	crashPriceMinor = 125
)

// crashOrder is one order request of the crash test, kept so that a
// request whose outcome is unknown can be retried with the same key and
// body after the restart.
type crashOrder struct {
	Key  string // Idempotency-Key; "" for none
	Body []byte
	Qty  int
}

// ackedOrder is what a 201 (or an idempotent replay) told the client.
type ackedOrder struct {
	ProductID string
	Quantity  int
	Amount    json.Number
}

// crashLedger is what the clients were told, shared by the workers.
type crashLedger struct {
	mu       sync.Mutex
	orders   map[string]ackedOrder // order id → what was acknowledged
	keys     map[string]string     // idempotency key → order id
	unknown  []crashOrder          // keyed requests that got no answer, to retry
	keyed    []crashOrder          // keyed requests acknowledged, to replay
	retried  int                   // retries of keyed requests that got no answer
	alerts   map[string]bool       // fingerprints acknowledged with a 2xx
	sent     int                   // order requests sent
	noAnswer int                   // requests (orders and webhooks) that got no answer
	replays  int                   // keyed retries answered with the original order
	problems []string              // violations seen while driving traffic
}

func (l *crashLedger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

// TestCrashConsistency SIGKILLs the service at random moments while
// clients place orders (with and without Idempotency-Key) and deliver
// webhooks, restarts it on the same database each time, and then
// reconciles: every acknowledged order and alert is stored, stock plus
// sold quantity is the starting stock, no id is duplicated, and the file
// passes PRAGMA integrity_check (SPEC §3.1 and §6: a 2xx only after a
// durable commit).
func TestCrashConsistency(t *testing.T) {
	began := time.Now()
	dbPath := t.TempDir() + "/crash.db"
	svc := testkit.StartServiceProc(t, testkit.ServiceProcOptions{Name: "ordersvc-00", DBPath: dbPath})
	products := make([]string, crashProducts)
	for i := range products {
		products[i] = fmt.Sprintf("crash-%d", i)
		body := fmt.Sprintf(`{"name":"crash product %d","unit_price":%s,"stock":%d}`, i, crashUnitPrice, crashStartStock)
		r, err := svc.Admin(http.MethodPut, "/inventory/"+products[i], []byte(body))
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("create %s: %v %v", products[i], r, err)
		}
	}

	l := &crashLedger{orders: map[string]ackedOrder{}, keys: map[string]string{}, alerts: map[string]bool{}}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashWorkers}}
	kills := 0
	for round := 0; kills < crashMaxKills && (kills < crashMinKills || time.Since(began) < crashBudget); round++ {
		if round > 0 {
			svc = testkit.StartServiceProc(t, testkit.ServiceProcOptions{Name: fmt.Sprintf("ordersvc-%02d", round), DBPath: dbPath})
		}
		svc.Client = client
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range crashWorkers {
			wg.Go(func() { crashWorker(ctx, svc, l, products, round, w) })
		}
		time.Sleep(rand.N(crashMaxDelay + 1))
		if !svc.Kill() {
			t.Fatalf("round %d: the service had exited before the kill:\n%s", round, svc.Tail(testkit.LogTailLines))
		}
		kills++
		stop()
		wg.Wait()
		client.CloseIdleConnections()
	}
	trafficTook := time.Since(began)

	// One more start, to retry the keys whose outcome is unknown and to
	// read back everything through the API.
	svc = testkit.StartServiceProc(t, testkit.ServiceProcOptions{Name: "ordersvc-final", DBPath: dbPath})
	svc.Client = client
	l.mu.Lock()
	retry := l.unknown
	l.unknown = nil
	l.mu.Unlock()
	l.retried += len(retry)
	for _, o := range retry {
		crashSendOrder(svc, l, o)
	}
	for _, p := range l.problems {
		t.Error(p)
	}

	found, lost := crashCheckOrders(t, svc, l)
	alertsSeen := crashCheckAlertsAPI(t, svc, l)
	if err := svc.Stop(); err != nil {
		t.Errorf("stop the service: %v", err)
	}

	db := openDBFile(t, dbPath)
	checkIntegrity(t, db)
	stored := crashCheckStock(t, db, products)
	alertsFound, alertsLost := crashCheckAlertsFile(t, db, l)

	t.Logf("crash consistency: %d kills (random 0-%s after traffic started), traffic %s, total %s",
		kills, crashMaxDelay, trafficTook.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	t.Logf("orders: %d sent, %d acknowledged, %d found, %d lost, %d stored (acknowledged or not); %d requests without an answer, %d keyed ones retried, %d keyed replays answered with the original order",
		l.sent, len(l.orders), found, lost, stored, l.noAnswer, l.retried, l.replays)
	t.Logf("alerts: %d acknowledged, %d found, %d lost (GET /alerts showed %d)", len(l.alerts), alertsFound, alertsLost, alertsSeen)
	if kills < crashMinKills {
		t.Errorf("only %d kills, want at least %d", kills, crashMinKills)
	}
	if len(l.orders) == 0 || len(l.alerts) == 0 {
		t.Errorf("nothing was acknowledged (%d orders, %d alerts): the test proves nothing", len(l.orders), len(l.alerts))
	}
}

// crashWorker drives traffic until ctx ends or the service stops
// answering: mostly orders (half of them keyed), some webhook deliveries,
// and first the keyed requests of earlier rounds whose outcome is unknown.
func crashWorker(ctx context.Context, svc *testkit.ServiceProc, l *crashLedger, products []string, round, worker int) {
	types := []string{"online", "in_store", "phone"}
	for i := 0; ctx.Err() == nil; i++ {
		l.mu.Lock()
		var retry *crashOrder
		if n := len(l.unknown); n > 0 {
			o := l.unknown[n-1]
			l.unknown = l.unknown[:n-1]
			retry = &o
			l.retried++
		}
		if retry == nil && i%8 == 5 && len(l.keyed) > 0 {
			// Replay an acknowledged keyed order, maybe from before a
			// crash: it must come back with the same id.
			o := l.keyed[rand.IntN(len(l.keyed))]
			retry = &o
		}
		l.mu.Unlock()
		if retry != nil {
			if !crashSendOrder(svc, l, *retry) {
				return
			}
			continue
		}
		if i%4 == 3 {
			if !crashSendAlert(svc, l, fmt.Sprintf("c%02dw%di%d", round, worker, i)) {
				return
			}
			continue
		}
		o := crashOrder{Qty: 1 + rand.IntN(5)}
		if i%2 == 0 {
			o.Key = fmt.Sprintf("crash-%d-%d-%d", round, worker, i)
		}
		o.Body = fmt.Appendf(nil, `{"product_id":%q,"quantity":%d,"type":%q,"customer_id":"c-%d"}`,
			products[rand.IntN(len(products))], o.Qty, types[rand.IntN(len(types))], worker)
		if !crashSendOrder(svc, l, o) {
			return
		}
	}
}

// crashSendOrder sends one order request and records the answer; it
// reports whether the service answered.
func crashSendOrder(svc *testkit.ServiceProc, l *crashLedger, o crashOrder) bool {
	var headers []string
	if o.Key != "" {
		headers = []string{"Idempotency-Key", o.Key}
	}
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	r, err := svc.Send(http.MethodPost, "/orders", o.Body, headers...)
	if err != nil {
		l.mu.Lock()
		l.noAnswer++
		if o.Key != "" {
			l.unknown = append(l.unknown, o)
		}
		l.mu.Unlock()
		return false
	}
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		l.problem("POST /orders %s: %s, want 201", o.Body, r)
		return true
	}
	var got struct {
		ID        string      `json:"id"`
		ProductID string      `json:"product_id"`
		Quantity  int         `json:"quantity"`
		Amount    json.Number `json:"amount"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || got.ID == "" {
		l.problem("POST /orders: undecodable answer %s: %v", r, err)
		return true
	}
	if want := crashAmount(o.Qty); got.Amount.String() != want {
		l.problem("order %s: amount %s, want %s", got.ID, got.Amount, want)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if o.Key != "" {
		if first, ok := l.keys[o.Key]; ok {
			if first != got.ID {
				l.problems = append(l.problems, fmt.Sprintf("key %s: order %s, then %s on retry", o.Key, first, got.ID))
			}
			l.replays++
			return true
		}
		l.keys[o.Key] = got.ID
		l.keyed = append(l.keyed, o)
	}
	if _, dup := l.orders[got.ID]; dup {
		l.problems = append(l.problems, fmt.Sprintf("order id %s acknowledged twice", got.ID))
	}
	l.orders[got.ID] = ackedOrder{ProductID: got.ProductID, Quantity: got.Quantity, Amount: got.Amount}
	return true
}

// crashAmount is the JSON amount of an order of qty units of a crash
// product.
func crashAmount(qty int) string {
	minor := crashPriceMinor * qty
	s := fmt.Sprintf("%d.%02d", minor/100, minor%100)
	return strings.TrimSuffix(strings.TrimSuffix(s, "0"), ".0")
}

// crashSendAlert delivers one firing alert with its own fingerprint and
// records a 2xx; it reports whether the service answered.
func crashSendAlert(svc *testkit.ServiceProc, l *crashLedger, fingerprint string) bool {
	r, err := svc.Webhook(alertNotification(fingerprint, 0))
	if err != nil {
		l.mu.Lock()
		l.noAnswer++
		l.mu.Unlock()
		return false
	}
	if r.Status/100 != 2 {
		l.problem("webhook %s: %s, want 2xx", fingerprint, r)
		return true
	}
	l.mu.Lock()
	l.alerts[fingerprint] = true
	l.mu.Unlock()
	return true
}

// alertNotification is an Alertmanager version 4 notification of one
// firing alert, with an annotation of padding bytes.
func alertNotification(fingerprint string, padding int) []byte {
	type alert struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
		Fingerprint string            `json:"fingerprint"`
	}
	labels := map[string]string{"alertname": "CrashTest", "severity": "warning", "job": "ordersvc", "case": fingerprint}
	annotations := map[string]string{"summary": "crash test alert " + fingerprint}
	if padding > 0 {
		annotations["description"] = strings.Repeat("x", padding)
	}
	b, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "ticket", "groupKey": "{}:{alertname=\"CrashTest\"}",
		"groupLabels": map[string]string{"alertname": "CrashTest"}, "truncatedAlerts": 0,
		"alerts": []alert{{Status: "firing", Labels: labels, Annotations: annotations,
			StartsAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond), Fingerprint: fingerprint}},
	})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return b
}

// crashCheckOrders reads every acknowledged order back through the API
// and reports how many were found and lost.
func crashCheckOrders(t *testing.T, svc *testkit.ServiceProc, l *crashLedger) (found, lost int) {
	t.Helper()
	ids := make(chan string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for id := range ids {
				want := l.orders[id]
				r, err := svc.Send(http.MethodGet, "/orders/"+id, nil)
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("GET /orders/%s: %v", id, err)
				case r.Status == http.StatusNotFound:
					lost++
					if lost <= 10 {
						t.Errorf("acknowledged order %s (%+v) is lost", id, want)
					}
				case r.Status != http.StatusOK:
					t.Errorf("GET /orders/%s: %s", id, r)
				default:
					var got ackedOrder
					if err := json.Unmarshal(r.Body, &struct {
						ProductID *string      `json:"product_id"`
						Quantity  *int         `json:"quantity"`
						Amount    *json.Number `json:"amount"`
					}{&got.ProductID, &got.Quantity, &got.Amount}); err != nil || got != want {
						t.Errorf("order %s reads %+v (%v), acknowledged as %+v", id, got, err, want)
					}
					found++
				}
				mu.Unlock()
			}
		})
	}
	for id := range l.orders {
		ids <- id
	}
	close(ids)
	wg.Wait()
	return found, lost
}

// crashCheckAlertsAPI checks that GET /alerts (one page, newest first)
// lists only alerts the clients delivered and as many as it may; it returns
// how many it listed.
func crashCheckAlertsAPI(t *testing.T, svc *testkit.ServiceProc, l *crashLedger) int {
	t.Helper()
	r, err := svc.Admin(http.MethodGet, "/alerts?limit=500", nil)
	if err != nil || r.Status != http.StatusOK {
		t.Errorf("GET /alerts: %v %v", r, err)
		return 0
	}
	var page struct {
		Alerts []struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Errorf("GET /alerts: %v", err)
		return 0
	}
	seen := map[string]bool{}
	for _, a := range page.Alerts {
		if seen[a.Fingerprint] {
			t.Errorf("GET /alerts lists %s twice", a.Fingerprint)
		}
		seen[a.Fingerprint] = true
	}
	if want := min(len(l.alerts), 500); len(page.Alerts) < want {
		t.Errorf("GET /alerts lists %d alerts, want at least %d", len(page.Alerts), want)
	}
	return len(page.Alerts)
}

// crashCheckStock checks, in the stopped service's file, that every
// product's stock plus the quantity of its orders is the starting stock
// and that no order id repeats; it returns the number of stored orders.
func crashCheckStock(t *testing.T, db *sql.DB, products []string) int {
	t.Helper()
	var orders, distinct int
	if err := db.QueryRow("SELECT count(*), count(DISTINCT id) FROM orders WHERE product_id LIKE 'crash-%'").Scan(&orders, &distinct); err != nil {
		t.Fatalf("count orders: %v", err)
	}
	if orders != distinct {
		t.Errorf("%d orders but %d distinct ids", orders, distinct)
	}
	for _, p := range products {
		var stock, sold int
		if err := db.QueryRow("SELECT stock, (SELECT coalesce(sum(quantity), 0) FROM orders WHERE product_id = ?1) FROM products WHERE id = ?1", p).Scan(&stock, &sold); err != nil {
			t.Fatalf("stock of %s: %v", p, err)
		}
		if stock+sold != crashStartStock {
			t.Errorf("%s: stock %d + sold %d = %d, want %d", p, stock, sold, stock+sold, crashStartStock)
		}
	}
	return orders
}

// crashCheckAlertsFile checks that every acknowledged alert is stored
// once, and reports how many were found and lost.
func crashCheckAlertsFile(t *testing.T, db *sql.DB, l *crashLedger) (found, lost int) {
	t.Helper()
	rows, err := db.Query("SELECT fingerprint, count(*) FROM alerts GROUP BY fingerprint")
	if err != nil {
		t.Fatalf("read alerts: %v", err)
	}
	defer rows.Close()
	stored := map[string]int{}
	for rows.Next() {
		var fp string
		var n int
		if err := rows.Scan(&fp, &n); err != nil {
			t.Fatal(err)
		}
		stored[fp] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for fp := range l.alerts {
		switch n := stored[fp]; {
		case n == 0:
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged alert %s is lost", fp)
			}
		case n > 1:
			t.Errorf("alert %s stored %d times", fp, n)
			found++
		default:
			found++
		}
	}
	return found, lost
}

// openDBFile opens a stopped service's SQLite file (mode=rw: never a new file), closed
// when the test ends.
func openDBFile(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// checkIntegrity fails the test unless PRAGMA integrity_check says ok.
func checkIntegrity(t *testing.T, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Errorf("integrity_check: %s", res)
	}
}
