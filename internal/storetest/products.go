package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

// ProductLoader is the test hook a store's conformance test provides (on a
// wrapper of the store, not in the store's API) so that the suite can fill
// a large catalog quickly: it inserts new products in one batch (one
// transaction, COPY, …) instead of one UpsertProduct round trip each.
type ProductLoader interface {
	LoadProducts(ctx context.Context, products []ordersvc.Product) error
}

var productTests = []test{
	{"UpsertCreatesThenUpdates", testUpsert},
	{"OrderedByID", testProductsOrderedByID},
	{"Invalid", testProductInvalid},
	{"SeedIfEmpty", testSeedIfEmpty},
	{"PagesReachEveryProductOnce", testPagesReachEveryProductOnce},
	{"PageBounds", testPageBounds},
	{"WalkWithConcurrentInserts", testWalkWithConcurrentInserts},
	{"ProductStocks", testProductStocks},
	{"HundredThousandProducts", testHundredThousandProducts},
}

// allProducts walks the catalog page by page, failing t on an error or on
// a walk that does not end.
func allProducts(t *testing.T, s Store) []ordersvc.Product {
	t.Helper()
	all := []ordersvc.Product{}
	after := ""
	for range 1_000_000 {
		page, next, err := s.ProductPage(ctxFor(t), after, ordersvc.MaxProductPage)
		if err != nil {
			t.Fatalf("products after %q: %v", after, err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		after = next
	}
	t.Fatal("the product walk does not end")
	return nil
}

// loadProducts stores products through the store's ProductLoader, or one
// upsert at a time when it has none.
func loadProducts(t *testing.T, s Store, products []ordersvc.Product) {
	t.Helper()
	if l, ok := s.(ProductLoader); ok {
		mustf(t, l.LoadProducts(ctxFor(t), products), "load %d products", len(products))
		return
	}
	for _, p := range products {
		upsert(t, s, p)
	}
}

// numbered returns n products with ids prefix + a zero-padded number, in
// byte order, with stock i%50 so that stocks differ.
func numbered(prefix string, n int) []ordersvc.Product {
	products := make([]ordersvc.Product, n)
	for i := range products {
		products[i] = ordersvc.Product{ID: fmt.Sprintf("%s%06d", prefix, i), Name: "n", UnitPrice: 1, Stock: int64(i % 50)}
	}
	return products
}

// ids returns the products' ids.
func ids(products []ordersvc.Product) []string {
	out := make([]string, len(products))
	for i, p := range products {
		out[i] = p.ID
	}
	return out
}

func testUpsert(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	steps := []struct {
		p       ordersvc.Product
		created bool
	}{
		{ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 5}, true},
		{ordersvc.Product{ID: "sku-1", Name: "Beans 2kg", UnitPrice: ordersvc.MaxMoney, Stock: ordersvc.MaxStock}, false},
		{ordersvc.Product{ID: "sku-1", Name: "Beans ☕", UnitPrice: 1, Stock: 0}, false},
		{ordersvc.Product{ID: "sku-2", Name: "Mug", UnitPrice: 1, Stock: 0}, true},
	}
	for i, st := range steps {
		created, err := s.UpsertProduct(ctx, st.p)
		mustf(t, err, "step %d", i)
		if created != st.created {
			t.Errorf("step %d (%s): created=%v, want %v", i, st.p.ID, created, st.created)
		}
		var got *ordersvc.Product
		for _, p := range allProducts(t, s) {
			if p.ID == st.p.ID {
				got = &p
			}
		}
		if got == nil || *got != st.p {
			t.Errorf("step %d: stored %+v, want %+v", i, got, st.p)
		}
	}
}

func testProductsOrderedByID(t *testing.T, open Opener) {
	s := openDefault(t, open)
	want := []string{"sku-2", "sku-10", "B", "a", "sku_1", "sku.1", "sku-1", "Z-9", "0"}
	for _, id := range want {
		upsert(t, s, ordersvc.Product{ID: id, Name: "n", UnitPrice: 1, Stock: 1})
	}
	sort.Strings(want) // byte order
	if got := ids(allProducts(t, s)); !reflect.DeepEqual(got, want) {
		t.Errorf("products in order %v, want byte order %v", got, want)
	}
	// Small pages keep the same order across page boundaries.
	var got []string
	for after := ""; ; {
		page, next, err := s.ProductPage(ctxFor(t), after, 2)
		mustf(t, err, "page after %q", after)
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		after = next
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pages of 2 in order %v, want byte order %v", got, want)
	}
	empty := openDefault(t, open)
	if products, next, err := empty.ProductPage(ctxFor(t), "", 10); err != nil || products == nil || len(products) != 0 || next != "" {
		t.Errorf("empty catalog: %#v, next %q, %v; want an empty, non-nil list and no next", products, next, err)
	}
}

func testProductInvalid(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ok := ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 5}
	for _, tc := range []struct {
		name string
		edit func(*ordersvc.Product)
	}{
		{"empty id", func(p *ordersvc.Product) { p.ID = "" }},
		{"id with a slash", func(p *ordersvc.Product) { p.ID = "a/b" }},
		{"long id", func(p *ordersvc.Product) { p.ID = strings.Repeat("x", ordersvc.MaxProductIDLen+1) }},
		{"empty name", func(p *ordersvc.Product) { p.Name = "" }},
		{"long name", func(p *ordersvc.Product) { p.Name = strings.Repeat("n", ordersvc.MaxProductNameLen+1) }},
		{"zero price", func(p *ordersvc.Product) { p.UnitPrice = 0 }},
		{"negative price", func(p *ordersvc.Product) { p.UnitPrice = -1 }},
		{"price over the maximum", func(p *ordersvc.Product) { p.UnitPrice = ordersvc.MaxMoney + 1 }},
		{"negative stock", func(p *ordersvc.Product) { p.Stock = -1 }},
		{"stock over the maximum", func(p *ordersvc.Product) { p.Stock = ordersvc.MaxStock + 1 }},
	} {
		p := ok
		tc.edit(&p)
		if _, err := s.UpsertProduct(ctxFor(t), p); ordersvc.KindOf(err) != ordersvc.KindInvalid {
			t.Errorf("%s: %v, want an invalid error", tc.name, err)
		}
	}
	if products := allProducts(t, s); len(products) != 0 {
		t.Errorf("refused products were stored: %+v", products)
	}
}

func testSeedIfEmpty(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	catalog := ordersvc.DemoCatalog()
	seeded, err := s.SeedIfEmpty(ctx, catalog)
	if err != nil || !seeded {
		t.Fatalf("seed an empty store: %v, %v; want true", seeded, err)
	}
	if products := allProducts(t, s); !reflect.DeepEqual(products, catalog) {
		t.Errorf("seeded catalog\n  %+v\nwant\n  %+v", products, catalog)
	}
	if seeded, err := s.SeedIfEmpty(ctx, catalog); err != nil || seeded {
		t.Errorf("seed a seeded store: %v, %v; want false", seeded, err)
	}

	// A catalog an operator built is never seeded over.
	other := openDefault(t, open)
	upsert(t, other, ordersvc.Product{ID: "own-1", Name: "Own", UnitPrice: 1, Stock: 1})
	if seeded, err := other.SeedIfEmpty(ctx, catalog); err != nil || seeded {
		t.Errorf("seed a store with products: %v, %v; want false", seeded, err)
	}
	// A bad catalog is refused whole.
	bad := openDefault(t, open)
	if _, err := bad.SeedIfEmpty(ctx, []ordersvc.Product{catalog[0], {ID: "bad id", Name: "x", UnitPrice: 1}}); err == nil {
		t.Error("seeding an invalid product succeeded")
	}
	if products := allProducts(t, bad); len(products) != 0 {
		t.Errorf("a refused seed left %d products", len(products))
	}
}

// testPagesReachEveryProductOnce walks 2,500 products with page sizes that
// divide the catalog exactly (the last page is full, and must still say it
// is the last) and that do not (a short last page).
func testPagesReachEveryProductOnce(t *testing.T, open Opener) {
	s := openDefault(t, open)
	catalog := numbered("p-", 2500)
	loadProducts(t, s, catalog)
	want := ids(catalog)
	for _, limit := range []int{100, 7, ordersvc.MaxProductPage} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			var got []string
			pages := 0
			for after := ""; ; {
				page, next, err := s.ProductPage(ctxFor(t), after, limit)
				mustf(t, err, "page %d (after %q)", pages, after)
				pages++
				switch {
				case len(page) > limit:
					t.Fatalf("page %d has %d products, over the limit %d", pages, len(page), limit)
				case len(page) == 0:
					t.Fatalf("page %d (after %q) is empty: the previous page should have had no next", pages, after)
				case next != "" && len(page) != limit:
					t.Errorf("page %d has %d products and a next cursor; only the last page may be short", pages, len(page))
				case next != "" && next != page[len(page)-1].ID:
					t.Errorf("page %d: next %q, want its last id %q", pages, next, page[len(page)-1].ID)
				}
				got = append(got, ids(page)...)
				if next == "" {
					break
				}
				if pages > len(want) {
					t.Fatal("the walk does not end")
				}
				after = next
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the walk returned %d ids (first %v), want the %d products once each, in order", len(got), got[:min(len(got), 5)], len(want))
			}
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	// Page contents carry every field.
	page, _, err := s.ProductPage(ctxFor(t), "p-000010", 1)
	mustf(t, err, "one product")
	if len(page) != 1 || page[0] != catalog[11] {
		t.Errorf("the product after p-000010 is %+v, want %+v", page, catalog[11])
	}
}

// testPageBounds: the limit is clamped, and the cursor need not be a
// stored id.
func testPageBounds(t *testing.T, open Opener) {
	s := openDefault(t, open)
	catalog := numbered("p-", ordersvc.MaxProductPage+5)
	loadProducts(t, s, catalog)
	for _, tc := range []struct {
		name      string
		after     string
		limit     int
		wantFirst string
		wantLen   int
		wantNext  string
	}{
		{"limit 0 is 1", "", 0, "p-000000", 1, "p-000000"},
		{"negative limit is 1", "", -3, "p-000000", 1, "p-000000"},
		{"limit over the maximum is the maximum", "", ordersvc.MaxProductPage + 1, "p-000000", ordersvc.MaxProductPage, catalog[ordersvc.MaxProductPage-1].ID},
		{"a cursor between ids", "p-000012a", 2, "p-000013", 2, "p-000014"},
		{"a cursor before every id", "P", 1, "p-000000", 1, "p-000000"},
		{"a cursor after every id", "q", 10, "", 0, ""},
		{"the last id", catalog[len(catalog)-1].ID, 10, "", 0, ""},
		{"the last page exactly", catalog[len(catalog)-3].ID, 2, catalog[len(catalog)-2].ID, 2, ""},
	} {
		page, next, err := s.ProductPage(ctxFor(t), tc.after, tc.limit)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		first := ""
		if len(page) > 0 {
			first = page[0].ID
		}
		if page == nil || len(page) != tc.wantLen || first != tc.wantFirst || next != tc.wantNext {
			t.Errorf("%s: %d products from %q, next %q; want %d from %q, next %q",
				tc.name, len(page), first, next, tc.wantLen, tc.wantFirst, tc.wantNext)
		}
	}
}

// testWalkWithConcurrentInserts: a walk started before products are added
// sees every product that existed when it started exactly once, whatever
// is inserted before, at or after its cursor while it walks, and never
// returns an id twice or out of order.
func testWalkWithConcurrentInserts(t *testing.T, open Opener) {
	s := openDefault(t, open)
	catalog := numbered("m-", 400)
	loadProducts(t, s, catalog)

	// A writer inserts products all over the id space while the walk runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopWriter := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriter()
	wg.Add(1)
	var writerErr error
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, prefix := range []string{"a-", "m-000100-", "m-000300-", "z-"} {
				if _, err := s.UpsertProduct(context.Background(), ordersvc.Product{ID: fmt.Sprintf("%sw%d", prefix, i), Name: "w", UnitPrice: 1, Stock: 1}); err != nil {
					writerErr = err
					return
				}
			}
		}
	}()

	seen := map[string]int{}
	var walked []string
	after := ""
	for page := 0; ; page++ {
		products, next, err := s.ProductPage(ctxFor(t), after, 17)
		mustf(t, err, "page %d", page)
		for _, p := range products {
			seen[p.ID]++
			walked = append(walked, p.ID)
		}
		if next == "" {
			break
		}
		// Between pages: one product just before the cursor (the walk
		// is past it), one just after it (ahead of the walk), and an
		// update of a product ahead.
		upsert(t, s, ordersvc.Product{ID: next[:len(next)-1], Name: "before", UnitPrice: 1, Stock: 1})
		upsert(t, s, ordersvc.Product{ID: next + "0", Name: "after", UnitPrice: 1, Stock: 1})
		if page*17+40 < len(catalog) {
			upsert(t, s, ordersvc.Product{ID: catalog[page*17+40].ID, Name: "updated", UnitPrice: 2, Stock: 3})
		}
		after = next
	}
	stopWriter()
	if writerErr != nil {
		t.Fatalf("concurrent writer: %v", writerErr)
	}
	for _, p := range catalog {
		if n := seen[p.ID]; n != 1 {
			t.Errorf("product %s seen %d times, want exactly once", p.ID, n)
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("product %s returned %d times", id, n)
		}
	}
	if !slices.IsSorted(walked) {
		t.Error("the walk did not return ids in byte order")
	}
}

func testProductStocks(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	if err := s.ProductStocks(ctx, func(id string, _ int64) error {
		t.Errorf("empty catalog: called with %q", id)
		return nil
	}); err != nil {
		t.Errorf("empty catalog: %v", err)
	}

	catalog := numbered("s-", 1500)
	loadProducts(t, s, catalog)
	upsert(t, s, ordersvc.Product{ID: "s-000007", Name: "n", UnitPrice: 1, Stock: 12345})
	catalog[7].Stock = 12345
	got := map[string]int64{}
	err := s.ProductStocks(ctx, func(id string, stock int64) error {
		if _, dup := got[id]; dup {
			t.Errorf("product %s streamed twice", id)
		}
		got[id] = stock
		return nil
	})
	mustf(t, err, "product stocks")
	want := map[string]int64{}
	for _, p := range catalog {
		want[p.ID] = p.Stock
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("streamed %d stocks, want the %d products' stocks", len(got), len(want))
	}

	// An error from fn stops the walk and comes back as it is.
	errStop := errors.New("stop")
	calls := 0
	err = s.ProductStocks(ctx, func(string, int64) error {
		calls++
		if calls == 10 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 10 {
		t.Errorf("fn failing on call 10: %v after %d calls, want errStop after 10", err, calls)
	}
	// A cancelled context is a store failure, not a partial success.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ProductStocks(cancelled, func(string, int64) error { return nil }); err == nil {
		t.Error("product stocks with a cancelled context succeeded")
	}
}

// testHundredThousandProducts: the catalog has no small cap. 100,000
// products are created (the last ones through the API), walked page by
// page and streamed; the timings are logged, not asserted (SPEC §10:
// performance is measured in benchmarks, not timed tests).
func testHundredThousandProducts(t *testing.T, open Opener) {
	const n = 100_000
	s := openDefault(t, open)
	if _, ok := s.(ProductLoader); !ok {
		t.Fatalf("the store under test (%T) has no ProductLoader test hook", s)
	}
	catalog := numbered("sku-", n)
	start := time.Now()
	loadProducts(t, s, catalog[:n-10])
	for _, p := range catalog[n-10:] {
		if created, err := s.UpsertProduct(ctxFor(t), p); err != nil || !created {
			t.Fatalf("upsert product %s into a large catalog: created=%v, %v", p.ID, created, err)
		}
	}
	loaded := time.Since(start)

	start = time.Now()
	got := allProducts(t, s)
	walked := time.Since(start)
	if len(got) != n || got[0] != catalog[0] || got[n-1] != catalog[n-1] || !slices.IsSortedFunc(got, func(a, b ordersvc.Product) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("the walk returned %d products, want the %d in order", len(got), n)
	}

	start = time.Now()
	count, sum := 0, int64(0)
	mustf(t, s.ProductStocks(ctxFor(t), func(_ string, stock int64) error {
		count++
		sum += stock
		return nil
	}), "product stocks")
	streamed := time.Since(start)
	wantSum := int64(0)
	for _, p := range catalog {
		wantSum += p.Stock
	}
	if count != n || sum != wantSum {
		t.Errorf("streamed %d stocks summing to %d, want %d summing to %d", count, sum, n, wantSum)
	}
	t.Logf("%d products: load %v, walk in pages of %d %v, stream %v", n, loaded.Round(time.Millisecond),
		ordersvc.MaxProductPage, walked.Round(time.Millisecond), streamed.Round(time.Millisecond))
}
