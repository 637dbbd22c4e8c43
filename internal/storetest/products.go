package storetest

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc"
)

var productTests = []test{
	{"UpsertCreatesThenUpdates", testUpsert},
	{"OrderedByID", testProductsOrderedByID},
	{"Invalid", testProductInvalid},
	{"CatalogIsBounded", testCatalogIsBounded},
	{"SeedIfEmpty", testSeedIfEmpty},
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
		products, err := s.Products(ctx)
		mustf(t, err, "products")
		var got *ordersvc.Product
		for j := range products {
			if products[j].ID == st.p.ID {
				got = &products[j]
			}
		}
		if got == nil || *got != st.p {
			t.Errorf("step %d: stored %+v, want %+v", i, got, st.p)
		}
	}
}

func testProductsOrderedByID(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ids := []string{"sku-2", "sku-10", "B", "a", "sku_1", "sku.1", "sku-1", "Z-9", "0"}
	for _, id := range ids {
		upsert(t, s, ordersvc.Product{ID: id, Name: "n", UnitPrice: 1, Stock: 1})
	}
	products, err := s.Products(ctxFor(t))
	mustf(t, err, "products")
	got := make([]string, len(products))
	for i, p := range products {
		got[i] = p.ID
	}
	want := append([]string(nil), ids...)
	sort.Strings(want) // byte order
	if !reflect.DeepEqual(got, want) {
		t.Errorf("products in order %v, want byte order %v", got, want)
	}
	empty := openDefault(t, open)
	if products, err := empty.Products(ctxFor(t)); err != nil || products == nil || len(products) != 0 {
		t.Errorf("empty catalog: %#v, %v; want an empty, non-nil list", products, err)
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
	if products, _ := s.Products(ctxFor(t)); len(products) != 0 {
		t.Errorf("refused products were stored: %+v", products)
	}
}

func testCatalogIsBounded(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	for i := range ordersvc.MaxProducts {
		upsert(t, s, ordersvc.Product{ID: "p-" + strconv.Itoa(i), Name: "n", UnitPrice: 1, Stock: 1})
	}
	_, err := s.UpsertProduct(ctx, ordersvc.Product{ID: "one-too-many", Name: "n", UnitPrice: 1, Stock: 1})
	if ordersvc.KindOf(err) != ordersvc.KindConflict {
		t.Errorf("product %d: %v, want a conflict", ordersvc.MaxProducts+1, err)
	}
	// Updating an existing product is still allowed.
	if created, err := s.UpsertProduct(ctx, ordersvc.Product{ID: "p-0", Name: "m", UnitPrice: 2, Stock: 0}); err != nil || created {
		t.Errorf("update in a full catalog: created=%v %v", created, err)
	}
	if products, err := s.Products(ctx); err != nil || len(products) != ordersvc.MaxProducts {
		t.Errorf("full catalog lists %d products (%v), want %d", len(products), err, ordersvc.MaxProducts)
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
	products, err := s.Products(ctx)
	mustf(t, err, "products")
	if !reflect.DeepEqual(products, catalog) {
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
	if products, _ := bad.Products(ctx); len(products) != 0 {
		t.Errorf("a refused seed left %d products", len(products))
	}
}
