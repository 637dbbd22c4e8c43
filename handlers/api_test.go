package handlers_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestInventory(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/inventory", "")
	inv := decode[struct {
		Products []map[string]any `json:"products"`
	}](t, w)
	if w.Code != 200 || len(inv.Products) != 5 || inv.Products[0]["product_id"] != "sku-1" || inv.Products[0]["stock"] != 500.0 {
		t.Fatalf("GET /inventory = %d %s", w.Code, w.Body)
	}
	for _, k := range []string{"product_id", "name", "unit_price", "stock"} {
		if _, ok := inv.Products[0][k]; !ok {
			t.Errorf("product lacks %q", k)
		}
	}

	created := e.admin("PUT", "/inventory/sku-new", `{"name":"New thing","unit_price":3.5,"stock":7}`)
	if created.Code != 201 || created.Header().Get("Location") != "/inventory/sku-new" {
		t.Fatalf("create: %d %s", created.Code, created.Body)
	}
	updated := e.admin("PUT", "/inventory/sku-new", `{"name":"New thing","unit_price":3.55,"stock":9}`)
	if updated.Code != 200 || decode[map[string]any](t, updated)["unit_price"] != 3.55 {
		t.Fatalf("update: %d %s", updated.Code, updated.Body)
	}
	if e.stock("sku-new") != 9 || e.metric("inventory_level|product_id=sku-new") != 9 {
		t.Errorf("stock = %d, inventory_level = %v, want 9", e.stock("sku-new"), e.metric("inventory_level|product_id=sku-new"))
	}
	// The price comes from the catalog: 3 × 3.55.
	o := e.do("POST", "/orders", `{"product_id":"sku-new","quantity":3,"type":"in_store"}`)
	if got := decode[map[string]any](t, o)["amount"]; got != 10.65 {
		t.Errorf("amount = %v, want 10.65", got)
	}
}

func TestPutProductRejects(t *testing.T) {
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"three decimals", "/inventory/sku-1", `{"name":"x","unit_price":3.555,"stock":1}`, 422},
		{"price as string", "/inventory/sku-1", `{"name":"x","unit_price":"3.5","stock":1}`, 422},
		{"price exponent", "/inventory/sku-1", `{"name":"x","unit_price":1e3,"stock":1}`, 422},
		{"zero price", "/inventory/sku-1", `{"name":"x","unit_price":0,"stock":1}`, 422},
		{"negative price", "/inventory/sku-1", `{"name":"x","unit_price":-1,"stock":1}`, 422},
		{"negative stock", "/inventory/sku-1", `{"name":"x","unit_price":1,"stock":-1}`, 422},
		{"fractional stock", "/inventory/sku-1", `{"name":"x","unit_price":1,"stock":1.5}`, 422},
		{"missing stock", "/inventory/sku-1", `{"name":"x","unit_price":1}`, 422},
		{"empty name", "/inventory/sku-1", `{"name":"","unit_price":1,"stock":1}`, 422},
		{"bad product id", "/inventory/sku%20one", `{"name":"x","unit_price":1,"stock":1}`, 422},
		{"unknown field", "/inventory/sku-1", `{"name":"x","unit_price":1,"stock":1,"color":"red"}`, 400},
		{"malformed", "/inventory/sku-1", `{"name":`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			problemOf(t, e.admin("PUT", tt.path, tt.body), tt.status)
			if got := e.stock("sku-1"); got != 500 {
				t.Errorf("sku-1 changed: stock %d", got)
			}
			if n := len(decode[map[string][]any](t, e.do("GET", "/inventory", ""))["products"]); n != 5 {
				t.Errorf("catalog has %d products, want 5", n)
			}
		})
	}
}

func TestAdminAuth(t *testing.T) {
	e := newEnv(t)
	body := `{"name":"x","unit_price":1,"stock":1}`
	for _, tt := range []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"inventory without token", "PUT", "/inventory/sku-1", body, nil},
		{"inventory wrong token", "PUT", "/inventory/sku-1", body, []string{"Authorization", "Bearer wrong"}},
		{"inventory token prefix", "PUT", "/inventory/sku-1", body, []string{"Authorization", "Bearer " + adminToken[:5]}},
		{"inventory basic scheme", "PUT", "/inventory/sku-1", body, []string{"Authorization", "Basic " + adminToken}},
		{"faults without token", "PUT", "/admin/faults", `{"error_rate":1}`, nil},
		{"faults get wrong token", "GET", "/admin/faults", "", []string{"Authorization", "Bearer x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(tt.method, tt.path, tt.body, tt.headers...)
			problemOf(t, w, http.StatusUnauthorized)
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if got := e.stock("sku-1"); got != 500 {
		t.Errorf("unauthorised request changed stock: %d", got)
	}
	if w := e.do("GET", "/orders/x", ""); w.Code != 404 {
		t.Errorf("faults turned on without auth? %d", w.Code)
	}

	// With no ADMIN_TOKEN configured, the admin API does not exist.
	e2 := newEnvWithAdmin(t, "")
	p := problemOf(t, e2.admin("PUT", "/admin/faults", `{"error_rate":1}`), http.StatusNotFound)
	if !strings.Contains(p["detail"].(string), "ADMIN_TOKEN") {
		t.Errorf("detail does not say how to enable: %v", p["detail"])
	}
}

func TestFaultInjection(t *testing.T) {
	e := newEnv(t)
	if w := e.admin("GET", "/admin/faults", ""); w.Code != 200 || decode[map[string]any](t, w)["error_rate"] != 0.0 {
		t.Fatalf("faults should be off by default: %d %s", w.Code, w.Body)
	}
	if w := e.admin("PUT", "/admin/faults", `{"error_rate":1,"routes":["/inventory"]}`); w.Code != 200 {
		t.Fatalf("set faults: %d %s", w.Code, w.Body)
	}
	problemOf(t, e.do("GET", "/inventory", ""), 500)
	if w := e.do("GET", "/reports/summary", ""); w.Code != 200 {
		t.Errorf("route not listed was faulted: %d", w.Code)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/admin/faults"} {
		if w := e.admin("GET", path, ""); w.Code != 200 {
			t.Errorf("%s was faulted: %d", path, w.Code)
		}
	}
	// All business routes when routes is empty.
	e.admin("PUT", "/admin/faults", `{"error_rate":1}`)
	problemOf(t, e.do("POST", "/orders", validOrder), 500)
	if s := e.summary(); s.Orders != 0 {
		t.Errorf("a faulted order was stored")
	}
	// Panics are recovered, counted, and answered with 500.
	e.admin("PUT", "/admin/faults", `{"panic_rate":1,"routes":["/reports/summary"]}`)
	problemOf(t, e.do("GET", "/reports/summary", ""), 500)
	if got := e.metric("panics_recovered_total|endpoint=/reports/summary"); got != 1 {
		t.Errorf("panics_recovered_total = %v, want 1", got)
	}
	if got := e.metric("http_requests_total|endpoint=/reports/summary|method=GET|status_code=500"); got != 1 {
		t.Errorf("a recovered panic must count as status 500, got %v", got)
	}
	// Latency.
	e.admin("PUT", "/admin/faults", `{"latency_ms":150,"routes":["/inventory"]}`)
	start := time.Now()
	if w := e.do("GET", "/inventory", ""); w.Code != 200 || time.Since(start) < 150*time.Millisecond {
		t.Errorf("latency not injected: %d after %v", w.Code, time.Since(start))
	}
	// {} turns everything off.
	if w := e.admin("PUT", "/admin/faults", `{}`); w.Code != 200 {
		t.Fatal(w.Body)
	}
	if w := e.do("GET", "/inventory", ""); w.Code != 200 {
		t.Errorf("faults still on: %d", w.Code)
	}

	for _, bad := range []string{`{"error_rate":1.5}`, `{"error_rate":-0.1}`, `{"panic_rate":2}`, `{"latency_ms":-1}`,
		`{"latency_ms":600000}`, `{"routes":["/metrics"]}`, `{"routes":["/admin/faults"]}`, `{"error_rate":"0.5"}`, `{"nope":1}`, `[]`} {
		w := e.admin("PUT", "/admin/faults", bad)
		if w.Code != 422 && w.Code != 400 {
			t.Errorf("%s: status %d, want 400/422", bad, w.Code)
		}
		if got := decode[map[string]any](t, e.admin("GET", "/admin/faults", "")); got["error_rate"] != 0.0 || got["latency_ms"] != 0.0 {
			t.Errorf("%s changed the setting: %v", bad, got)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	if w := e.do("GET", "/healthz", ""); w.Code != 200 {
		t.Errorf("healthz = %d", w.Code)
	}
	if w := e.do("GET", "/readyz", ""); w.Code != 200 {
		t.Errorf("readyz = %d", w.Code)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	problemOf(t, e.do("GET", "/readyz", ""), 503)
	// A closed database is a 503, never a 500 or a panic.
	problemOf(t, e.do("POST", "/orders", validOrder), 503)
	problemOf(t, e.do("GET", "/inventory", ""), 503)
}

func TestReportsSummary(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/orders", validOrder)
	e.do("POST", "/orders", `{"product_id":"sku-5","quantity":35,"type":"phone"}`)
	w := e.do("GET", "/reports/summary", "")
	s := decode[struct {
		Orders   int                `json:"orders"`
		Revenue  map[string]float64 `json:"revenue"`
		Currency string             `json:"currency"`
		LowStock []map[string]any   `json:"low_stock"`
	}](t, w)
	if s.Orders != 2 || s.Revenue["online"] != 49 || s.Revenue["phone"] != 2275 || s.Revenue["in_store"] != 0 || s.Currency != "USD" {
		t.Errorf("summary = %+v", s)
	}
	if len(s.LowStock) != 1 || s.LowStock[0]["product_id"] != "sku-5" || s.LowStock[0]["stock"] != 5.0 {
		t.Errorf("low stock = %v", s.LowStock)
	}
}

func TestMetricLabels(t *testing.T) {
	e := newEnv(t)
	before := len(e.metrics())
	rnd := rand.New(rand.NewPCG(1, 2))
	odd := []string{"GET", "POST", "PROPFIND", "BREW", "DELETE", "get", strings.Repeat("X", 50), "OPTIONS"}
	for i := 0; i < 1000; i++ {
		path := fmt.Sprintf("/%x/%d?q=%d", rnd.Uint64(), i, i)
		e.do(odd[i%len(odd)], path, "")
	}
	e.do("DELETE", "/orders", "") // known path, wrong method: 405
	after := e.metrics()
	// 1000 random paths and methods may add only a handful of series: one
	// per (method-or-OTHER, status) under endpoint "unmatched".
	unmatched := 0
	for k := range after {
		if strings.HasPrefix(k, "http_requests_total|") && strings.Contains(k, "endpoint=unmatched") {
			unmatched++
			if !strings.Contains(k, "method=GET") && !strings.Contains(k, "method=POST") && !strings.Contains(k, "method=DELETE") &&
				!strings.Contains(k, "method=OPTIONS") && !strings.Contains(k, "method=OTHER") {
				t.Errorf("unexpected method label in %s", k)
			}
		}
		if strings.Contains(k, "endpoint=/") && !knownEndpoint(e, k) {
			t.Errorf("series with a raw path as endpoint: %s", k)
		}
	}
	if unmatched == 0 || unmatched > 12 {
		t.Errorf("unmatched series = %d, want a handful", unmatched)
	}
	if got := e.metric("http_requests_total|endpoint=unmatched|method=DELETE|status_code=405"); got != 1 {
		t.Errorf("405 not counted as unmatched: %v", got)
	}
	if got := e.metric("http_requests_total|endpoint=unmatched|method=OTHER|status_code=404"); got != 500 {
		t.Errorf("OTHER/404 = %v, want 500 (PROPFIND, BREW, get, XXX…)", got)
	}
	if len(after)-before > 20 {
		t.Errorf("1000 junk requests added %d series", len(after)-before)
	}
	// Scrapes and probes are not traffic.
	e.do("GET", "/metrics", "")
	e.do("GET", "/healthz", "")
	e.do("GET", "/readyz", "")
	for k := range e.metrics() {
		if strings.Contains(k, "endpoint=/metrics") || strings.Contains(k, "endpoint=/healthz") || strings.Contains(k, "endpoint=/readyz") {
			t.Errorf("probe counted: %s", k)
		}
	}
}

// knownEndpoint reports whether series's endpoint label is one of the
// router's own route templates.
func knownEndpoint(e *env, series string) bool {
	for _, r := range e.svc.Handler().(*gin.Engine).Routes() {
		if strings.Contains(series+"|", "endpoint="+r.Path+"|") {
			return true
		}
	}
	return false
}

func TestPreinitialisedSeries(t *testing.T) {
	e := newEnv(t)
	for _, key := range []string{
		"http_requests_total|endpoint=/orders|method=POST|status_code=201",
		"http_requests_total|endpoint=/orders|method=POST|status_code=500",
		"http_requests_total|endpoint=/orders/:id|method=GET|status_code=500",
		"http_request_duration_seconds|endpoint=/orders|method=POST",
		"orders_created_total|type=online", "orders_created_total|type=in_store", "orders_created_total|type=phone",
		"order_revenue_total|type=phone",
		"orders_rejected_total|reason=out_of_stock", "orders_rejected_total|reason=unknown_product", "orders_rejected_total|reason=invalid",
		"panics_recovered_total|endpoint=/orders",
		"db_query_duration_seconds|operation=insert|table=orders",
		"http_requests_in_flight",
	} {
		if got := e.metric(key); got != 0 {
			t.Errorf("%s = %v, want a pre-initialised 0", key, got)
		}
	}
	if got := e.metric("app_build_info|goversion=test|revision=test|version=test"); got != 1 {
		t.Errorf("app_build_info = %v", got)
	}
}

func TestInFlightReturnsToZero(t *testing.T) {
	e := newEnv(t)
	e.admin("PUT", "/admin/faults", `{"latency_ms":200,"routes":["/inventory"]}`)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); e.do("GET", "/inventory", "") }()
	}
	deadline := time.Now().Add(2 * time.Second)
	peak := 0.0
	for time.Now().Before(deadline) && peak < 8 {
		peak = max(peak, e.metric("http_requests_in_flight"))
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if peak < 2 {
		t.Errorf("in-flight peak = %v, want several", peak)
	}
	if got := e.metric("http_requests_in_flight"); got != 0 {
		t.Errorf("in-flight after = %v, want 0", got)
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/inventory", "", "X-Request-ID", "abc-123")
	if got := w.Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("sane id not honoured: %q", got)
	}
	for _, bad := range []string{"", "a b", "x\ny", strings.Repeat("a", 129), "<script>"} {
		w := e.do("GET", "/inventory", "", "X-Request-ID", bad)
		got := w.Header().Get("X-Request-Id")
		if got == bad || len(got) != 16 {
			t.Errorf("insane id %q: response id %q", bad, got)
		}
	}
	p := problemOf(t, e.do("GET", "/orders/nope", "", "X-Request-ID", "req-9"), 404)
	if p["request_id"] != "req-9" {
		t.Errorf("problem lacks the request id: %v", p)
	}
}

// TestProbesAnswerHead: load balancers and kubelets often probe with HEAD
// (before, HEAD /healthz was a 405).
func TestProbesAnswerHead(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if w := e.do("HEAD", path, ""); w.Code != 200 {
			t.Errorf("HEAD %s = %d, want 200", path, w.Code)
		}
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if w := e.do("HEAD", "/readyz", ""); w.Code != 503 {
		t.Errorf("HEAD /readyz with the database closed = %d, want 503", w.Code)
	}
}

// TestPoolGauges: db_pool_connections reports SQLite's two pools, by state.
func TestPoolGauges(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/inventory", "")
	m := e.metrics()
	for _, pool := range []string{"read", "write"} {
		for _, state := range []string{"in_use", "idle"} {
			if _, ok := m["db_pool_connections|pool="+pool+"|state="+state]; !ok {
				t.Errorf("db_pool_connections{pool=%q,state=%q} missing", pool, state)
			}
		}
	}
	if v := m["db_pool_connections|pool=write|state=in_use"] + m["db_pool_connections|pool=write|state=idle"]; v != 1 {
		t.Errorf("the write pool holds %v connections, want exactly 1 (the single writer)", v)
	}
}

// TestDBUp: db_up is 1 while the store answers and 0 once it does not.
func TestDBUp(t *testing.T) {
	e := newEnv(t)
	if v := e.metric("db_up"); v != 1 {
		t.Fatalf("db_up = %v with a working store, want 1", v)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	// Other collectors fail now too; the exposition keeps the rest.
	w := e.do("GET", "/metrics", "")
	if !strings.Contains(w.Body.String(), "\ndb_up 0\n") {
		t.Errorf("db_up is not 0 with the store closed:\n%s", w.Body)
	}
}
