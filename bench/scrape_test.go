package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/sqlite" // also registers the "sqlite" database/sql driver
)

// scrapeProducts is the catalog size of SPEC §10's scrape goal.
const scrapeProducts = 100_000

// scrapeCaseNames are BenchmarkScrape's cases, in report order.
var scrapeCaseNames = []string{"ordersvc", "client_golang"}

// scrapeAccept asks for the text format (not OpenMetrics, not protobuf).
const scrapeAccept = "text/plain;version=0.0.4"

// productID and productStock define the catalog both cases expose (and
// loadCatalog's SQL the same), so their inventory_level series are equal.
func productID(i int) string   { return fmt.Sprintf("sku-%06d", i) }
func productStock(i int) int64 { return int64(i % 50) }

// newScrapeCase builds the named case's /metrics handler with the
// catalog loaded, released when tb ends.
func newScrapeCase(tb testing.TB, name string) http.Handler {
	tb.Helper()
	switch name {
	case "ordersvc":
		return newOrdersvcScrape(tb)
	case "client_golang":
		return newClientGolangScrape(tb)
	}
	tb.Fatalf("unknown scrape case %q", name)
	return nil
}

// newOrdersvcScrape is the service as the server builds it (internal/app,
// SQLite, as newOrdersvc does) with scrapeProducts products, and its
// router: a scrape is GET /metrics through the real route, middleware and
// collectors, inventory_level read from the database.
func newOrdersvcScrape(tb testing.TB) http.Handler {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "scrape.db")
	loadCatalog(tb, path)
	env := map[string]string{"DATABASE_URL": "sqlite://" + filepath.ToSlash(path)}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), NoSeed: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a.Handler()
}

// loadCatalog creates the database at path (the store's own migrations)
// and fills it with one INSERT … SELECT from a recursive CTE: the service's
// API would take one transaction per product, and the benchmark measures
// scrapes, not loading.
func loadCatalog(tb testing.TB, path string) {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Close(); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	// The ids and stocks of productID and productStock, inserted in a
	// scrambled order (k = i·7919 mod n is a permutation: 7919 is a prime
	// not dividing n), as a catalog built over time would be: rowid order
	// is not id order, so reading by id is not a sequential table scan.
	_, err = db.ExecContext(ctx, `INSERT INTO products (id, name, unit_price, stock, updated_at)
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1),
		p(k) AS (SELECT i * 7919 % ?1 FROM n)
		SELECT printf('sku-%06d', k), 'Product ' || k, 100 + k % 1000, k % 50, 0 FROM p`, scrapeProducts)
	if err != nil {
		tb.Fatalf("load the catalog: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM products").Scan(&n); err != nil || n != scrapeProducts {
		tb.Fatalf("the catalog holds %d products (%v), want %d", n, err, scrapeProducts)
	}
}

// newClientGolangScrape is client_golang alone: a registry holding one
// GaugeVec of scrapeProducts pre-set gauges of the same shape,
// inventory_level{product_id}, served by promhttp with the options the
// service serves its registry with (metrics.HandlerFor).
func newClientGolangScrape(tb testing.TB) http.Handler {
	tb.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "inventory_level", Help: "Units in stock, by product, read from the database at scrape time.",
	}, []string{"product_id"})
	reg.MustRegister(g)
	for i := range scrapeProducts {
		g.WithLabelValues(productID(i)).Set(float64(productStock(i)))
	}
	return metrics.HandlerFor(reg, nil)
}

// newScrapeRequest is the scrape every case serves: the text format (what
// the scrape goal names), no gzip, the same headers for every case.
func newScrapeRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", scrapeAccept)
	return req
}

// BenchmarkScrape serves one full /metrics scrape per iteration with
// scrapeProducts inventory_level series: the service (ordersvc) side by
// side with client_golang alone exposing as many pre-set gauges
// (client_golang). SPEC §10: ordersvc at most 1.5× client_golang.
// cpu-ns/op is the whole process's CPU time per scrape (gathering runs
// collectors on goroutines of their own).
func BenchmarkScrape(b *testing.B) {
	for _, name := range scrapeCaseNames {
		b.Run(name, func(b *testing.B) {
			h := newScrapeCase(b, name)
			w, req := newSinkWriter(), newScrapeRequest()
			h.ServeHTTP(w, req) // warm: connections, caches, buffers
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			start, ok := processCPU()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, req)
			}
			reportCPU(b, start, ok, processCPU)
			if w.status != http.StatusOK {
				b.Fatalf("status %d, want 200", w.status)
			}
			b.ReportMetric(float64(w.written), "bytes/scrape")
		})
	}
}

// TestScrapeCases checks that both cases answer a text-format scrape with
// the same scrapeProducts inventory_level series, so that the benchmark
// compares equal work and cannot silently measure a broken scrape.
func TestScrapeCases(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k products")
	}
	series := map[string][]byte{}
	for _, name := range scrapeCaseNames {
		w := httptest.NewRecorder()
		newScrapeCase(t, name).ServeHTTP(w, newScrapeRequest())
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: Content-Type %q, want the text format", name, ct)
		}
		if ce := w.Header().Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding %q, want none", name, ce)
		}
		var inv bytes.Buffer
		n := 0
		sc := bufio.NewScanner(w.Body)
		for sc.Scan() {
			if line := sc.Bytes(); bytes.HasPrefix(line, []byte("inventory_level{")) {
				inv.Write(line)
				inv.WriteByte('\n')
				n++
			}
		}
		if n != scrapeProducts {
			t.Errorf("%s: %d inventory_level series, want %d", name, n, scrapeProducts)
		}
		series[name] = inv.Bytes()
	}
	if !bytes.Equal(series["ordersvc"], series["client_golang"]) {
		t.Error("the cases expose different inventory_level series")
	}
	want := fmt.Sprintf(`inventory_level{product_id="%s"} %d`, productID(12345), productStock(12345))
	if !bytes.Contains(series["ordersvc"], []byte(want+"\n")) {
		t.Errorf("ordersvc lacks %s", want)
	}
}
