package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/app"
)

const validOrder = `{"product_id":"sku-1","quantity":2,"type":"online","customer_id":"c-42"}`

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	before := e.stock("sku-1")
	w := e.do("POST", "/orders", validOrder)
	if w.Code != http.StatusCreated {
		t.Fatalf("status = %d: %s", w.Code, w.Body)
	}
	o := decode[map[string]any](t, w)
	id, _ := o["id"].(string)
	if w.Header().Get("Location") != "/orders/"+id || id == "" {
		t.Errorf("Location = %q, id = %q", w.Header().Get("Location"), id)
	}
	want := map[string]any{"product_id": "sku-1", "quantity": 2.0, "type": "online", "customer_id": "c-42",
		"unit_price": 24.5, "amount": 49.0, "currency": "USD", "status": "created"}
	for k, v := range want {
		if o[k] != v {
			t.Errorf("%s = %v, want %v", k, o[k], v)
		}
	}
	if _, ok := o["created_at"].(string); !ok {
		t.Errorf("created_at missing: %v", o)
	}
	if got := e.stock("sku-1"); got != before-2 {
		t.Errorf("stock = %d, want %d", got, before-2)
	}
	if got := e.metric("orders_created_total|type=online"); got != 1 {
		t.Errorf("orders_created_total{online} = %v, want 1", got)
	}
	if got := e.metric("order_revenue_total|type=online"); got != 49 {
		t.Errorf("order_revenue_total{online} = %v, want 49 (currency units)", got)
	}

	g := e.do("GET", "/orders/"+id, "")
	if g.Code != http.StatusOK || decode[map[string]any](t, g)["id"] != id {
		t.Fatalf("GET /orders/%s = %d %s", id, g.Code, g.Body)
	}
	for _, missing := range []string{"/orders/ord_doesnotexist", "/orders/" + strings.Repeat("x", 300), "/orders/%27%20OR%201=1"} {
		problemOf(t, e.do("GET", missing, ""), http.StatusNotFound)
	}
}

// TestCreateOrderRejects sends every bad input the contract names and
// checks the status, the problem document, and that nothing changed: no
// order, no stock movement, no created/revenue metric; only the
// rejection counter moves.
func TestCreateOrderRejects(t *testing.T) {
	big := `{"product_id":"sku-1","quantity":1,"type":"online","customer_id":"` + strings.Repeat("a", 70<<10) + `"}`
	tests := []struct {
		name, body, contentType string
		headers                 []string
		status                  int
		reason                  string // orders_rejected_total reason
		field                   string // expected field error, for 422
	}{
		{name: "malformed JSON", body: `{"product_id": "sku-1",`, status: 400, reason: "invalid"},
		{name: "not JSON", body: `hello`, status: 400, reason: "invalid"},
		{name: "empty body", body: ``, status: 400, reason: "invalid"},
		{name: "whitespace body", body: "  \n ", status: 400, reason: "invalid"},
		{name: "JSON array", body: `[` + validOrder + `]`, status: 400, reason: "invalid"},
		{name: "JSON null", body: `null`, status: 400, reason: "invalid"},
		{name: "JSON string", body: `"order"`, status: 400, reason: "invalid"},
		{name: "two objects", body: validOrder + validOrder, status: 400, reason: "invalid"},
		{name: "unknown field", body: `{"product_id":"sku-1","quantity":1,"type":"online","price":0.01}`, status: 400, reason: "invalid"},
		{name: "quantity 0", body: `{"product_id":"sku-1","quantity":0,"type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "quantity 1001", body: `{"product_id":"sku-1","quantity":1001,"type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "quantity negative", body: `{"product_id":"sku-1","quantity":-3,"type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "quantity string", body: `{"product_id":"sku-1","quantity":"2","type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "quantity fraction", body: `{"product_id":"sku-1","quantity":1.5,"type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "quantity huge", body: `{"product_id":"sku-1","quantity":99999999999999999999,"type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "quantity missing", body: `{"product_id":"sku-1","type":"online"}`, status: 422, reason: "invalid", field: "quantity"},
		{name: "type outside set", body: `{"product_id":"sku-1","quantity":1,"type":"drone"}`, status: 422, reason: "invalid", field: "type"},
		{name: "type missing", body: `{"product_id":"sku-1","quantity":1}`, status: 422, reason: "invalid", field: "type"},
		{name: "type number", body: `{"product_id":"sku-1","quantity":1,"type":1}`, status: 422, reason: "invalid", field: "type"},
		{name: "product missing", body: `{"quantity":1,"type":"online"}`, status: 422, reason: "invalid", field: "product_id"},
		{name: "product id with quote", body: `{"product_id":"sku-1'--","quantity":1,"type":"online"}`, status: 422, reason: "invalid", field: "product_id"},
		{name: "customer id too long", body: `{"product_id":"sku-1","quantity":1,"type":"online","customer_id":"` + strings.Repeat("c", 65) + `"}`, status: 422, reason: "invalid", field: "customer_id"},
		{name: "idempotency key too long", body: validOrder, headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, status: 422, reason: "invalid", field: "Idempotency-Key"},
		{name: "unknown product", body: `{"product_id":"sku-404","quantity":1,"type":"online"}`, status: 404, reason: "unknown_product"},
		{name: "not enough stock", body: `{"product_id":"sku-5","quantity":1000,"type":"online"}`, status: 409, reason: "out_of_stock"},
		{name: "body over 64 KiB", body: big, status: 413, reason: "invalid"},
		{name: "text/plain", body: validOrder, contentType: "text/plain", status: 415, reason: "invalid"},
		{name: "form", body: "product_id=sku-1", contentType: "application/x-www-form-urlencoded", status: 415, reason: "invalid"},
		{name: "no content type", body: validOrder, contentType: "-", status: 415, reason: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			stockBefore := map[string]int64{"sku-1": e.stock("sku-1"), "sku-5": e.stock("sku-5")}
			headers := tt.headers
			if tt.contentType == "-" {
				headers = append(headers, "Content-Type", "")
			} else if tt.contentType != "" {
				headers = append(headers, "Content-Type", tt.contentType)
			}
			if tt.body == "" && tt.contentType == "" {
				headers = append(headers, "Content-Type", "application/json")
			}
			w := e.do("POST", "/orders", tt.body, headers...)
			p := problemOf(t, w, tt.status)
			if tt.field != "" {
				errs, _ := p["errors"].([]any)
				found := false
				for _, fe := range errs {
					if fe.(map[string]any)["field"] == tt.field {
						found = true
					}
				}
				if !found {
					t.Errorf("no field error for %q: %s", tt.field, w.Body)
				}
			}
			if s := e.summary(); s.Orders != 0 {
				t.Errorf("orders = %d, want 0", s.Orders)
			}
			for id, before := range stockBefore {
				if got := e.stock(id); got != before {
					t.Errorf("stock of %s = %d, want %d", id, got, before)
				}
			}
			for _, typ := range ordersvc.OrderTypes() {
				if v := e.metric("orders_created_total|type=" + string(typ)); v != 0 {
					t.Errorf("orders_created_total{%s} = %v", typ, v)
				}
				if v := e.metric("order_revenue_total|type=" + string(typ)); v != 0 {
					t.Errorf("order_revenue_total{%s} = %v", typ, v)
				}
			}
			if v := e.metric("orders_rejected_total|reason=" + tt.reason); v != 1 {
				t.Errorf("orders_rejected_total{%s} = %v, want 1", tt.reason, v)
			}
			if v := e.metric(fmt.Sprintf("http_requests_total|endpoint=/orders|method=POST|status_code=%d", tt.status)); v != 1 {
				t.Errorf("http_requests_total for %d = %v, want 1", tt.status, v)
			}
		})
	}
}

func TestCreateOrderReportsEveryBadField(t *testing.T) {
	e := newEnv(t)
	p := problemOf(t, e.do("POST", "/orders", `{"product_id":"","quantity":"2","type":"x"}`), 422)
	errs, _ := p["errors"].([]any)
	if len(errs) != 3 {
		t.Errorf("want 3 field errors, got %v", errs)
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	key := []string{"Idempotency-Key", "retry-7"}
	first := e.do("POST", "/orders", validOrder, key...)
	if first.Code != 201 {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	// Same content, other formatting: still the same request.
	replay := e.do("POST", "/orders", " {\"type\":\"online\",  \"quantity\":2,\"customer_id\":\"c-42\",\"product_id\":\"sku-1\"}", key...)
	if replay.Code != 201 || replay.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %s", replay.Code, replay.Header(), replay.Body)
	}
	a, b := decode[map[string]any](t, first), decode[map[string]any](t, replay)
	if a["id"] != b["id"] || a["created_at"] != b["created_at"] {
		t.Errorf("replay returned another order: %v vs %v", a, b)
	}
	if s := e.summary(); s.Orders != 1 {
		t.Errorf("orders = %d, want 1", s.Orders)
	}
	if got := e.stock("sku-1"); got != 498 {
		t.Errorf("stock = %d, want 498 (decremented once)", got)
	}
	if got := e.metric("orders_created_total|type=online"); got != 1 {
		t.Errorf("orders_created_total = %v, want 1", got)
	}
	if got := e.metric("order_revenue_total|type=online"); got != 49 {
		t.Errorf("order_revenue_total = %v, want 49", got)
	}

	other := e.do("POST", "/orders", `{"product_id":"sku-1","quantity":3,"type":"online","customer_id":"c-42"}`, key...)
	problemOf(t, other, 422)
	if s := e.summary(); s.Orders != 1 {
		t.Errorf("orders after mismatched replay = %d, want 1", s.Orders)
	}
	if got := e.metric("orders_rejected_total|reason=invalid"); got != 1 {
		t.Errorf("orders_rejected_total{invalid} after mismatched replay = %v, want 1", got)
	}
	// Another key is another order.
	if w := e.do("POST", "/orders", validOrder, "Idempotency-Key", "retry-8"); w.Code != 201 || decode[map[string]any](t, w)["id"] == a["id"] {
		t.Errorf("new key: %d %s", w.Code, w.Body)
	}
}

// TestConcurrentOrdersNeverOversell runs 200 parallel orders against a
// stock of 50 (run it with -race).
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	e := newEnv(t)
	if w := e.admin("PUT", "/inventory/sku-race", `{"name":"Race","unit_price":2.5,"stock":50}`); w.Code != 201 {
		t.Fatalf("create product: %d %s", w.Code, w.Body)
	}
	const n = 200
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- e.do("POST", "/orders", `{"product_id":"sku-race","quantity":1,"type":"phone"}`).Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 50 || count[409] != 150 || len(count) != 2 {
		t.Fatalf("status counts = %v, want 50×201 and 150×409", count)
	}
	if got := e.stock("sku-race"); got != 0 {
		t.Errorf("stock = %d, want 0", got)
	}
	if got := e.metric("order_revenue_total|type=phone"); got != 50*2.5 {
		t.Errorf("revenue = %v, want %v", got, 50*2.5)
	}
	if got := e.metric("orders_rejected_total|reason=out_of_stock"); got != 150 {
		t.Errorf("out_of_stock rejections = %v, want 150", got)
	}
	if got := e.metric("inventory_level|product_id=sku-race"); got != 0 {
		t.Errorf("inventory_level = %v, want 0", got)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "ordersvc.db")
	e := openEnv(t, path, true)
	w := e.do("POST", "/orders", validOrder)
	id := decode[map[string]any](t, w)["id"].(string)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	// A second start must neither re-seed nor lose anything.
	e2 := openEnv(t, path, true)
	if g := e2.do("GET", "/orders/"+id, ""); g.Code != 200 {
		t.Fatalf("order lost after restart: %d", g.Code)
	}
	if got := e2.stock("sku-1"); got != 498 {
		t.Errorf("stock after restart = %d, want 498 (not re-seeded)", got)
	}
	// inventory_level is read from the database: right at once after a restart.
	if got := e2.metric("inventory_level|product_id=sku-1"); got != 498 {
		t.Errorf("inventory_level after restart = %v, want 498", got)
	}
}

// failingOrders is an OrderService whose CreateOrder always fails with err.
type failingOrders struct {
	app.Store
	err error
}

func (f failingOrders) CreateOrder(context.Context, ordersvc.NewOrder) (ordersvc.Order, bool, error) {
	return ordersvc.Order{}, false, f.err
}

// TestRejectionReasonComesFromTheError checks that orders_rejected_total
// counts the reason the error carries, never one guessed from its kind: an
// error without a reason (a 503, a conflict other than stock) is no
// rejection.
func TestRejectionReasonComesFromTheError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		reason string // "" when nothing may be counted
	}{
		{"out of stock", ordersvc.OutOfStock("sku-1", 5, 1), 409, "out_of_stock"},
		{"unknown product", ordersvc.UnknownProduct("sku-9"), 404, "unknown_product"},
		{"idempotency mismatch", fmt.Errorf("create order: %w", ordersvc.IdempotencyMismatch()), 422, "invalid"},
		{"storage down", ordersvc.WrapError(ordersvc.KindUnavailable, errors.New("disk"), "the database is unavailable"), 503, ""},
		{"conflict without a reason", ordersvc.Errorf(ordersvc.KindConflict, "some other clash"), 409, ""},
		{"not found without a reason", ordersvc.Errorf(ordersvc.KindNotFound, "gone"), 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, envOptions{wrap: func(s app.Store) app.Store { return failingOrders{Store: s, err: tt.err} }})
			problemOf(t, e.do("POST", "/orders", validOrder), tt.status)
			for _, r := range ordersvc.RejectReasons() {
				want := 0.0
				if string(r) == tt.reason {
					want = 1
				}
				if v := e.metric("orders_rejected_total|reason=" + string(r)); v != want {
					t.Errorf("orders_rejected_total{%s} = %v, want %v", r, v, want)
				}
			}
		})
	}
}

// TestOrderAmountIsCapped: an order whose amount would exceed
// MaxOrderAmount is a 422 that changes nothing; before, such orders were
// accepted and drove the revenue total negative.
func TestOrderAmountIsCapped(t *testing.T) {
	e := newEnv(t)
	if w := e.admin("PUT", "/inventory/sku-big", `{"name":"Yacht","unit_price":1000000000,"stock":1000000}`); w.Code != 201 {
		t.Fatalf("PUT product: %d %s", w.Code, w.Body)
	}
	p := problemOf(t, e.do("POST", "/orders", `{"product_id":"sku-big","quantity":2,"type":"online"}`), 422)
	if errs, _ := p["errors"].([]any); len(errs) != 1 {
		t.Errorf("field errors = %v, want one naming quantity", p["errors"])
	}
	if got := e.stock("sku-big"); got != 1000000 {
		t.Errorf("stock = %d after a refused order, want 1000000", got)
	}
	if v := e.metric("orders_rejected_total|reason=invalid"); v != 1 {
		t.Errorf("orders_rejected_total{invalid} = %v, want 1", v)
	}
	w := e.do("POST", "/orders", `{"product_id":"sku-big","quantity":1,"type":"online"}`)
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"amount":1000000000,`) {
		t.Fatalf("an order at the cap: %d %s", w.Code, w.Body)
	}
	if s := e.summary(); s.Orders != 1 || s.TotalRevenue != ordersvc.SumOf(ordersvc.MaxOrderAmount) {
		t.Errorf("summary %+v, want one order at the cap", s)
	}
}
