package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc/api"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// TestOpenAPIServed checks that the service serves its embedded API
// description, YAML as written and JSON as converted, and that fetching
// it is not traffic: no HTTP metric series names the routes.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/openapi.yaml", "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if !bytes.Equal(w.Body.Bytes(), api.YAML()) {
		t.Error("GET /openapi.yaml is not the embedded document")
	}
	w = e.do("GET", "/openapi.json", "")
	want, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if !bytes.Equal(w.Body.Bytes(), want) {
		t.Error("GET /openapi.json is not the converted document")
	}
	if w := e.do("HEAD", "/openapi.json", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("HEAD /openapi.json = %d, want 405 (the document lists GET only)", w.Code)
	}
	for k := range e.metrics() {
		if strings.Contains(k, "endpoint=/openapi.") {
			t.Errorf("the API description is counted as traffic: %s", k)
		}
	}
}

// TestDocumentedErrorAnswers drives the error answers of the admin routes
// that the resource tests do not, so that the exchange validation of
// TestMain proves them against the document too.
func TestDocumentedErrorAnswers(t *testing.T) {
	e := newEnv(t)
	big := `{"name":"` + strings.Repeat("x", 65<<10) + `"}`
	for _, tt := range []struct {
		method, path, body, contentType string
		status                          int
	}{
		{"PUT", "/admin/faults", big, "", http.StatusRequestEntityTooLarge},
		{"PUT", "/admin/faults", `{}`, "text/plain", http.StatusUnsupportedMediaType},
		{"PUT", "/inventory/sku-1", big, "", http.StatusRequestEntityTooLarge},
		{"PUT", "/inventory/sku-1", `{"name":"a","unit_price":1,"stock":1}`, "text/plain", http.StatusUnsupportedMediaType},
	} {
		headers := []string{"Authorization", "Bearer " + adminToken}
		if tt.contentType != "" {
			headers = append(headers, "Content-Type", tt.contentType)
		}
		problemOf(t, e.do(tt.method, tt.path, tt.body, headers...), tt.status)
	}

	// With ADMIN_TOKEN unset, every admin route is switched off.
	off := newEnvWithAdmin(t, "")
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/alerts", ""}, {"GET", "/alerts/heartbeat", ""}, {"GET", "/admin/faults", ""},
		{"PUT", "/admin/faults", "{}"}, {"PUT", "/inventory/sku-1", `{"name":"a","unit_price":1,"stock":1}`},
	} {
		p := problemOf(t, off.do(r.method, r.path, r.body, "Authorization", "Bearer x"), http.StatusNotFound)
		if !strings.HasSuffix(p["type"].(string), "#feature-disabled") {
			t.Errorf("%s %s: type %v, want feature-disabled", r.method, r.path, p["type"])
		}
	}
}

// TestDocumentedBounds pins the document's bounds to the service's, both
// ways: each request at a bound is one the document accepts and the
// service serves; one past it is one the document refuses and the service
// answers 422. (The exchange check alone proves only that the document is
// not stricter than the service where the tests happen to probe.)
func TestDocumentedBounds(t *testing.T) {
	e := newEnv(t)
	doc, err := testkit.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if w := e.admin("PUT", "/inventory/sku-bounds", `{"name":"bounds","unit_price":1,"stock":1000000000}`); w.Code != http.StatusCreated {
		t.Fatalf("seed: %d %s", w.Code, w.Body)
	}
	order := func(quantity int, customer string) string {
		return fmt.Sprintf(`{"product_id":"sku-bounds","quantity":%d,"type":"phone","customer_id":%q}`, quantity, customer)
	}
	auth := []string{"Authorization", "Bearer " + adminToken}
	tests := []struct {
		name, method, path, body string
		headers                  []string
		ok                       bool
	}{
		{"quantity 1000", "POST", "/orders", order(1000, "c"), nil, true},
		{"quantity 1001", "POST", "/orders", order(1001, "c"), nil, false},
		{"quantity 0", "POST", "/orders", order(0, "c"), nil, false},
		{"customer_id 64 characters", "POST", "/orders", order(1, strings.Repeat("é", 64)), nil, true},
		{"customer_id 65 characters", "POST", "/orders", order(1, strings.Repeat("é", 65)), nil, false},
		{"Idempotency-Key 255", "POST", "/orders", order(1, "c"), []string{"Idempotency-Key", strings.Repeat("k", 255)}, true},
		{"Idempotency-Key 256", "POST", "/orders", order(1, "c"), []string{"Idempotency-Key", strings.Repeat("k", 256)}, false},
		{"type", "POST", "/orders", `{"product_id":"sku-bounds","quantity":1,"type":"mail"}`, nil, false},
		{"limit 1000", "GET", "/inventory?limit=1000", "", nil, true},
		{"limit 1001", "GET", "/inventory?limit=1001", "", nil, false},
		{"limit 0", "GET", "/inventory?limit=0", "", nil, false},
		{"alerts limit 500", "GET", "/alerts?limit=500", "", auth, true},
		{"alerts limit 501", "GET", "/alerts?limit=501", "", auth, false},
		{"alerts status", "GET", "/alerts?status=pending", "", auth, false},
		{"name 128", "PUT", "/inventory/sku-b2", `{"name":"` + strings.Repeat("n", 128) + `","unit_price":1000000000,"stock":0}`, auth, true},
		{"name 129", "PUT", "/inventory/sku-b2", `{"name":"` + strings.Repeat("n", 129) + `","unit_price":1,"stock":0}`, auth, false},
		{"unit_price 0", "PUT", "/inventory/sku-b2", `{"name":"n","unit_price":0,"stock":0}`, auth, false},
		{"unit_price over", "PUT", "/inventory/sku-b2", `{"name":"n","unit_price":1000000000.01,"stock":0}`, auth, false},
		{"stock over", "PUT", "/inventory/sku-b2", `{"name":"n","unit_price":1,"stock":1000000001}`, auth, false},
		{"latency 60000", "PUT", "/admin/faults", `{"latency_ms":60000,"routes":["/reports/summary"]}`, auth, true},
		{"latency 60001", "PUT", "/admin/faults", `{"latency_ms":60001}`, auth, false},
		{"error_rate 1.5", "PUT", "/admin/faults", `{"error_rate":1.5}`, auth, false},
		{"unknown route", "PUT", "/admin/faults", `{"error_rate":0.5,"routes":["/metrics"]}`, auth, false},
		{"faults off", "PUT", "/admin/faults", `{}`, auth, true},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(tt.headers); i += 2 {
			req.Header.Set(tt.headers[i], tt.headers[i+1])
		}
		refusal := doc.RequestRefusal(context.Background(), req, []byte(tt.body))
		w := e.do(tt.method, tt.path, tt.body, tt.headers...)
		switch {
		case tt.ok && (refusal != nil || w.Code >= 300):
			t.Errorf("%s: want accepted by both; document: %v; service: %d %s", tt.name, refusal, w.Code, w.Body)
		case !tt.ok && (refusal == nil || w.Code != http.StatusUnprocessableEntity):
			t.Errorf("%s: want refused by both; document: %v; service: %d %s", tt.name, refusal, w.Code, w.Body)
		}
	}
}
