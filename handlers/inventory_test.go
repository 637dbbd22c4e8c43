package handlers_test

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// inventoryBody is GET /inventory's body; Next is nil when absent.
type inventoryBody struct {
	Products []map[string]any `json:"products"`
	Next     *string          `json:"next"`
}

// walkInventory follows the next cursors from the first page with the
// given limit and returns the ids in the order served, and the pages.
func walkInventory(t *testing.T, e *env, limit int) (ids []string, pages int) {
	t.Helper()
	path := fmt.Sprintf("/inventory?limit=%d", limit)
	for range 1000 {
		w := e.do("GET", path, "")
		if w.Code != 200 {
			t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
		}
		page := decode[inventoryBody](t, w)
		pages++
		if len(page.Products) > limit || len(page.Products) == 0 {
			t.Fatalf("GET %s: %d products, want 1..%d", path, len(page.Products), limit)
		}
		for _, p := range page.Products {
			ids = append(ids, p["product_id"].(string))
		}
		if page.Next == nil {
			return ids, pages
		}
		if *page.Next == "" {
			t.Fatalf("GET %s: an empty next; the last page has none", path)
		}
		path = fmt.Sprintf("/inventory?limit=%d&after=%s", limit, url.QueryEscape(*page.Next))
	}
	t.Fatal("the inventory walk does not end")
	return nil, 0
}

func TestInventoryPages(t *testing.T) {
	e := newEnv(t) // the demo catalog: sku-1..sku-5
	want := []string{"sku-1", "sku-2", "sku-3", "sku-4", "sku-5"}
	for i := range 12 {
		id := fmt.Sprintf("p.%02d", i)
		if w := e.admin("PUT", "/inventory/"+id, `{"name":"n","unit_price":1.25,"stock":3}`); w.Code != 201 {
			t.Fatalf("create %s: %d %s", id, w.Code, w.Body)
		}
		want = append(want, id)
	}
	sort.Strings(want)

	for _, tc := range []struct {
		limit, pages int
	}{
		{1, 17}, {4, 5}, {17, 1}, {100, 1}, {1000, 1},
	} {
		got, pages := walkInventory(t, e, tc.limit)
		if !reflect.DeepEqual(got, want) || pages != tc.pages {
			t.Errorf("limit %d: %d pages of %v, want %d pages of %v", tc.limit, pages, got, tc.pages, want)
		}
	}

	// Without ?limit= a page holds DefaultProductPage products: all 17.
	w := e.do("GET", "/inventory", "")
	page := decode[inventoryBody](t, w)
	if w.Code != 200 || len(page.Products) != len(want) || page.Next != nil || strings.Contains(w.Body.String(), `"next"`) {
		t.Errorf("GET /inventory = %d %s; want every product and no next", w.Code, w.Body)
	}
	first := page.Products[0]
	if first["product_id"] != "p.00" || first["name"] != "n" || first["unit_price"] != 1.25 || first["stock"] != 3.0 || len(first) != 4 {
		t.Errorf("first product %v, want product_id, name, unit_price and stock of p.00", first)
	}

	// A cursor need not be a stored id: the page starts after it.
	w = e.do("GET", "/inventory?after=p.05x&limit=2", "")
	page = decode[inventoryBody](t, w)
	if w.Code != 200 || len(page.Products) != 2 || page.Products[0]["product_id"] != "p.06" || page.Next == nil || *page.Next != "p.07" {
		t.Errorf("after p.05x: %d %s; want p.06, p.07 and next p.07", w.Code, w.Body)
	}
	// After the last id: an empty page, and no next.
	w = e.do("GET", "/inventory?after=sku-5", "")
	if page := decode[inventoryBody](t, w); w.Code != 200 || page.Products == nil || len(page.Products) != 0 || page.Next != nil {
		t.Errorf("after the last id: %d %s; want an empty list and no next", w.Code, w.Body)
	}
}

func TestInventoryRejectsBadQueries(t *testing.T) {
	e := newEnv(t)
	before, _ := walkInventory(t, e, 100)
	for _, tc := range []struct {
		name   string
		query  string
		fields []string
	}{
		{"limit zero", "limit=0", []string{"limit"}},
		{"limit negative", "limit=-1", []string{"limit"}},
		{"limit over the maximum", "limit=1001", []string{"limit"}},
		{"limit huge", "limit=99999999999999999999", []string{"limit"}},
		{"limit not a number", "limit=ten", []string{"limit"}},
		{"limit fractional", "limit=1.5", []string{"limit"}},
		{"limit empty", "limit=", []string{"limit"}},
		{"limit twice", "limit=1&limit=2", []string{"limit"}},
		{"after empty", "after=", []string{"after"}},
		{"after with a space", "after=sku%201", []string{"after"}},
		{"after with a slash", "after=a%2Fb", []string{"after"}},
		{"after with a NUL", "after=a%00b", []string{"after"}},
		{"after too long", "after=" + strings.Repeat("x", 65), []string{"after"}},
		{"after twice", "after=sku-1&after=sku-2", []string{"after"}},
		{"both bad", "limit=0&after=%2F", []string{"limit", "after"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := problemOf(t, e.do("GET", "/inventory?"+tc.query, ""), 422)
			var fields []string
			errs, _ := p["errors"].([]any)
			for _, fe := range errs {
				fields = append(fields, fe.(map[string]any)["field"].(string))
			}
			if !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("GET /inventory?%s: field errors %v, want %v (%v)", tc.query, fields, tc.fields, p)
			}
		})
	}
	// A refused request changes nothing.
	if after, _ := walkInventory(t, e, 100); !reflect.DeepEqual(after, before) {
		t.Errorf("the catalog changed after refused requests: %v, was %v", after, before)
	}
	if n := e.metric(`http_requests_total|endpoint=/inventory|method=GET|status_code=422`); n != 15 {
		t.Errorf("http_requests_total for 422 on /inventory = %v, want 15", n)
	}
}
