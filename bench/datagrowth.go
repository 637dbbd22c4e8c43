package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/sqlite"
)

// The data-growth run (SPEC §10: reports and scrapes stay flat as data
// grows). One SQLite database is filled in stages (10k, 1M, 10M orders by
// default, 100k products) by direct SQL in the store's own schema, and at
// each stage the service, built by internal/app on that file, is asked for
// the summary, an inventory page, an order and a scrape, one request at a
// time; the table gives the median (and p90) time of each.
//
// The load writes what the store would have written: orders with ids of
// the service's form, amounts = unit price × quantity, request hashes, and
// order_totals (count and exact two-limb revenue per type) kept equal to
// the orders by adding each stage's sums with the same carry rule the
// store uses. Stock is not decremented: the orders are history.

// GrowthOptions configure Growth.
type GrowthOptions struct {
	// Dir holds the database file (it grows to ~2 GB at 10M orders).
	Dir string
	// Stages are the order counts measured, ascending.
	Stages   []int64
	Products int
	// Samples per endpoint and stage (the scrape gets a fifth, and one).
	Samples  int
	Progress io.Writer
}

// DefaultGrowthOptions: 10k, 1M and 10M orders, 100k products, 50 samples.
func DefaultGrowthOptions(dir string) GrowthOptions {
	return GrowthOptions{Dir: dir, Stages: []int64{10_000, 1_000_000, 10_000_000}, Products: 100_000, Samples: 50}
}

// GrowthStage is the measurements at one order count.
type GrowthStage struct {
	Orders   int64
	LoadTime time.Duration // to load the orders added for this stage
	// Median and P90 by endpoint (growthEndpoints).
	Median, P90 map[string]time.Duration
	// SummaryOrders and SummaryRevenue are what GET /reports/summary
	// reported; Revenue is the exact sum of the loaded orders' amounts,
	// computed apart. They agree when the totals are consistent.
	SummaryOrders  int64
	SummaryRevenue ordersvc.Sum
	Revenue        ordersvc.Sum
}

// The endpoints measured, in the table's order.
var growthEndpoints = []string{"GET /reports/summary", "GET /inventory?limit=100", "GET /orders/:id", "GET /metrics"}

// Growth fills the database stage by stage and measures the service at
// each stage.
func Growth(ctx context.Context, o GrowthOptions) ([]GrowthStage, error) {
	if len(o.Stages) == 0 || !slices.IsSorted(o.Stages) || o.Products <= 0 || o.Samples <= 0 {
		return nil, fmt.Errorf("growth: stages %v (ascending, at least one), products %d, samples %d", o.Stages, o.Products, o.Samples)
	}
	path := filepath.Join(o.Dir, "growth.db")
	// Open migrates the schema; the loader then writes into it.
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("create the database: %w", err)
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	loader, err := openLoader(path)
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	start := time.Now()
	if err := loadProducts(ctx, loader, o.Products); err != nil {
		return nil, err
	}
	progress(o.Progress, "loaded %d products in %v", o.Products, time.Since(start).Round(time.Millisecond))
	var out []GrowthStage
	var have int64
	for _, target := range o.Stages {
		start := time.Now()
		if err := loadOrders(ctx, loader, have, target, o.Products); err != nil {
			return out, err
		}
		stage := GrowthStage{Orders: target, LoadTime: time.Since(start)}
		progress(o.Progress, "loaded orders %d..%d in %v", have+1, target, stage.LoadTime.Round(time.Millisecond))
		have = target
		// The service must start from a checkpointed file, as after a
		// restart, not from a WAL of gigabytes.
		if _, err := loader.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return out, fmt.Errorf("checkpoint: %w", err)
		}
		stage.Revenue = loadedRevenue(target, o.Products)
		if err := measureStage(ctx, path, &stage, o); err != nil {
			return out, err
		}
		out = append(out, stage)
	}
	return out, nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// openLoader opens the file for the bulk load: one connection, a large
// page cache, and no sync (a crash during the load loses only the load).
func openLoader(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)&_pragma=foreign_keys(0)")
	if err != nil {
		return nil, fmt.Errorf("open the loader: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Shapes of the generated rows. The product of order x and its price are
// functions of x, so amounts can be written by SQL alone.

// priceSQL is the unit price of product number p (1-based), an SQL
// expression: 100 + p % 9900 minor units.
func priceSQL(p string) string { return "(100 + (" + p + ") % 9900)" }

// productSQL is the product number of order x, an SQL expression.
func productSQL(products int) string { return "(1 + x % " + strconv.Itoa(products) + ")" }

// loadProducts writes n products p-000001…, a few of them low on stock so
// the summary's low-stock list is full (it is bounded).
func loadProducts(ctx context.Context, db *sql.DB, n int) error {
	q := fmt.Sprintf(`INSERT INTO products (id, name, unit_price, stock, updated_at)
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
		SELECT printf('p-%%06d', x), 'Product ' || x, %s,
			CASE WHEN x %% 500 = 0 THEN x %% %d ELSE 1000 + x %% 100000 END, %d FROM c`,
		n, priceSQL("x"), ordersvc.LowStockThreshold, time.Now().UnixMicro())
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("load products: %w", err)
	}
	return nil
}

// growthBatch is how many orders one INSERT … SELECT writes (one
// transaction each, so the WAL stays bounded).
const growthBatch = 500_000

// loadOrders writes orders from+1..to, then adds their counts and sums to
// order_totals, exactly.
func loadOrders(ctx context.Context, db *sql.DB, from, to int64, products int) error {
	for lo := from; lo < to; lo += growthBatch {
		hi := min(lo+growthBatch, to)
		if err := loadOrderBatch(ctx, db, lo, hi, products); err != nil {
			return err
		}
	}
	return nil
}

func loadOrderBatch(ctx context.Context, db *sql.DB, lo, hi int64, products int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load orders: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	product := productSQL(products)
	price := priceSQL(product)
	base := time.Now().Add(-time.Duration(hi) * time.Millisecond).UnixMicro()
	// Ids are "ord_" and 24 hex digits like the service's, here the order
	// number: they sort in insertion order, which makes the load fast; the
	// index they fill is the same size as with random ids.
	q := fmt.Sprintf(`INSERT INTO orders (id, product_id, quantity, type, customer_id, unit_price, amount, currency, status, created_at, idempotency_key, request_hash)
		WITH RECURSIVE c(x) AS (SELECT %d UNION ALL SELECT x + 1 FROM c WHERE x < %d)
		SELECT printf('ord_%%024x', x), printf('p-%%06d', %s), 1 + x %% 3,
			CASE x %% 3 WHEN 0 THEN 'online' WHEN 1 THEN 'in_store' ELSE 'phone' END,
			'c-' || (x %% 1000), %s, %s * (1 + x %% 3), 'USD', 'created', %d + x * 1000, NULL, randomblob(32)
		FROM c`, lo+1, hi, product, price, price, base)
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("load orders %d..%d: %w", lo+1, hi, err)
	}
	// The batch's totals by type, added with the store's carry rule. A
	// batch's sum fits int64 by far (≤ 500k × 297 units).
	rows, err := tx.QueryContext(ctx, `SELECT type, count(*), sum(amount) FROM orders WHERE rowid > ? GROUP BY type`, lo)
	if err != nil {
		return fmt.Errorf("sum orders %d..%d: %w", lo+1, hi, err)
	}
	type total struct {
		typ           string
		count, amount int64
	}
	var totals []total
	for rows.Next() {
		var t total
		if err := rows.Scan(&t.typ, &t.count, &t.amount); err != nil {
			_ = rows.Close()
			return fmt.Errorf("sum orders: %w", err)
		}
		totals = append(totals, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sum orders: %w", err)
	}
	for _, t := range totals {
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_totals (type, orders, revenue_hi, revenue_lo) VALUES (?1, ?2, 0, ?3)
			ON CONFLICT (type) DO UPDATE SET orders = orders + ?2,
				revenue_hi = revenue_hi + (revenue_lo + ?3) / 1000000000000000000,
				revenue_lo = (revenue_lo + ?3) % 1000000000000000000`, t.typ, t.count, t.amount); err != nil {
			return fmt.Errorf("update totals: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("load orders: commit: %w", err)
	}
	return nil
}

// measureStage starts the service on the file and times each endpoint.
func measureStage(ctx context.Context, path string, stage *GrowthStage, o GrowthOptions) error {
	env := map[string]string{"DATABASE_URL": "sqlite://" + filepath.ToSlash(path), "LOG_LEVEL": "warn"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, "growth")
	if err != nil {
		return fmt.Errorf("service configuration: %w", err)
	}
	a, err := app.New(ctx, cfg, app.Options{Registry: prometheus.NewRegistry(), NoSeed: true})
	if err != nil {
		return fmt.Errorf("build the service: %w", err)
	}
	defer a.Close()
	srv, err := StartServer(a.Handler())
	if err != nil {
		return err
	}
	defer srv.Close()
	client := newDriveClient(1)
	defer client.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(uint64(stage.Orders), 1))
	paths := map[string]func() string{
		"GET /reports/summary":     func() string { return "/reports/summary" },
		"GET /inventory?limit=100": func() string { return "/inventory?limit=100" },
		"GET /orders/:id":          func() string { return fmt.Sprintf("/orders/ord_%024x", 1+rng.Int64N(stage.Orders)) },
		"GET /metrics":             func() string { return "/metrics" },
	}
	// The endpoints take turns, one request each per sample, so that a
	// burst of load from a neighbour falls on all of them rather than on
	// whichever was being measured; the first turn warms up and is not
	// counted. The scrape, the slowest, is taken every fifth turn.
	times := map[string][]time.Duration{}
	for i := range o.Samples + 1 {
		for _, ep := range growthEndpoints {
			if ep == "GET /metrics" && i%5 != 0 && i != 1 {
				continue
			}
			d, body, err := timedGet(ctx, client, srv.URL()+paths[ep]())
			if err != nil {
				return fmt.Errorf("%d orders, %s: %w", stage.Orders, ep, err)
			}
			if ep == "GET /reports/summary" {
				if stage.SummaryOrders, stage.SummaryRevenue, err = summaryOrders(body); err != nil {
					return err
				}
			}
			if i > 0 {
				times[ep] = append(times[ep], d)
			}
		}
	}
	stage.Median, stage.P90 = map[string]time.Duration{}, map[string]time.Duration{}
	for _, ep := range growthEndpoints {
		t := times[ep]
		slices.Sort(t)
		stage.Median[ep], stage.P90[ep] = t[len(t)/2], t[len(t)*9/10]
		progress(o.Progress, "%d orders: %s median %v (%d samples)", stage.Orders, ep, roundDur(stage.Median[ep]), len(t))
	}
	return nil
}

// timedGet fetches url, reads the whole body and times it; a status other
// than 200 is an error.
func timedGet(ctx context.Context, client *http.Client, url string) (time.Duration, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, nil, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return d, body, nil
}

// summaryOrders reads "orders" from a summary without decoding the rest.
func summaryOrders(body []byte) (int64, ordersvc.Sum, error) {
	var s struct {
		Orders       int64        `json:"orders"`
		TotalRevenue ordersvc.Sum `json:"total_revenue"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return 0, ordersvc.Sum{}, fmt.Errorf("decode the summary: %w", err)
	}
	return s.Orders, s.TotalRevenue, nil
}

// loadedRevenue is the exact sum of the amounts of orders 1..n as
// loadOrderBatch writes them, computed in Go from the same formulas.
func loadedRevenue(n int64, products int) ordersvc.Sum {
	var s ordersvc.Sum
	for x := int64(1); x <= n; x++ {
		p := 1 + x%int64(products)
		s = s.Add(ordersvc.Money((100 + p%9900) * (1 + x%3)))
	}
	return s
}

// WriteGrowthTable prints the medians (and p90) per endpoint and stage,
// and each endpoint's median at the last stage over the first.
func WriteGrowthTable(w io.Writer, stages []GrowthStage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "endpoint\t")
	for _, s := range stages {
		fmt.Fprintf(tw, "%s orders (median / p90)\t", countLabel(s.Orders))
	}
	fmt.Fprint(tw, "last/first\t\n")
	for _, ep := range growthEndpoints {
		fmt.Fprintf(tw, "%s\t", ep)
		for _, s := range stages {
			fmt.Fprintf(tw, "%v / %v\t", roundDur(s.Median[ep]), roundDur(s.P90[ep]))
		}
		if len(stages) > 0 {
			fmt.Fprintf(tw, "%.2f\t", float64(stages[len(stages)-1].Median[ep])/float64(stages[0].Median[ep]))
		}
		fmt.Fprint(tw, "\n")
	}
	fmt.Fprint(tw, "load time\t")
	for _, s := range stages {
		fmt.Fprintf(tw, "%v\t", s.LoadTime.Round(100*time.Millisecond))
	}
	fmt.Fprint(tw, "\t\nsummary: orders, revenue\t")
	for _, s := range stages {
		fmt.Fprintf(tw, "%d, %s\t", s.SummaryOrders, s.SummaryRevenue)
	}
	fmt.Fprint(tw, "\t\ntotals = orders loaded\t")
	for _, s := range stages {
		ok := "yes"
		if s.SummaryOrders != s.Orders || s.SummaryRevenue != s.Revenue {
			ok = "NO (revenue loaded " + s.Revenue.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t", ok)
	}
	fmt.Fprint(tw, "\t\n")
	return tw.Flush()
}

func countLabel(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.FormatInt(n/1_000_000, 10) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.FormatInt(n/1000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}
