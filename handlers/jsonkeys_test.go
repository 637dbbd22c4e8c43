package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestFieldNamesMatchExactly: encoding/json would match "PRODUCT_ID" to
// product_id; the API's field names are exact, so a case variant is an
// unknown field (400) on every strict body, and changes nothing.
func TestFieldNamesMatchExactly(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		admin                    bool
	}{
		{"order: a second product id in upper case", "POST", "/orders",
			`{"product_id":"sku-3","PRODUCT_ID":"nope","quantity":1,"type":"online"}`, false},
		{"order: only an upper-case product id", "POST", "/orders", `{"PRODUCT_ID":"sku-3","quantity":1,"type":"online"}`, false},
		{"order: mixed-case quantity", "POST", "/orders", `{"product_id":"sku-3","Quantity":1,"type":"online"}`, false},
		{"product: upper-case stock", "PUT", "/inventory/sku-1", `{"name":"x","unit_price":1,"stock":5,"STOCK":0}`, true},
		{"faults: upper-case error rate", "PUT", "/admin/faults", `{"ERROR_RATE":1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var w = e.do(tt.method, tt.path, tt.body)
			if tt.admin {
				w = e.admin(tt.method, tt.path, tt.body)
			}
			p := problemOf(t, w, http.StatusBadRequest)
			if !strings.Contains(p["detail"].(string), "unknown field") {
				t.Errorf("detail = %q, want it to name the unknown field", p["detail"])
			}
			if s := e.summary(); s.Orders != 0 {
				t.Errorf("%d orders created", s.Orders)
			}
			if got := e.stock("sku-1"); got != 500 {
				t.Errorf("stock of sku-1 = %d, want 500 (unchanged)", got)
			}
			if w := e.admin("GET", "/admin/faults", ""); !strings.Contains(w.Body.String(), `"error_rate":0`) {
				t.Errorf("faults changed: %s", w.Body)
			}
		})
	}
}

// TestWebhookIgnoresCaseVariants: the webhook ignores unknown fields (an
// Alertmanager upgrade may add some), but a key that differs from a known
// field only in case must not be taken for it.
func TestWebhookIgnoresCaseVariants(t *testing.T) {
	e := newEnv(t)
	alert := strings.Replace(alertJSON("firing", "case1", "HighErrorRate", "critical"),
		`"status":"firing"`, `"status":"firing","STATUS":"resolved","Fingerprint":"other"`, 1)
	body := strings.Replace(payload("firing", alert), `"version":"4"`, `"version":"4","VERSION":"3","newField":{"x":1}`, 1)
	if code := e.webhook(body); code != http.StatusOK {
		t.Fatalf("webhook = %d, want 200", code)
	}
	got := e.alerts("")
	if len(got) != 1 || got[0].Status != "firing" || got[0].Fingerprint != "case1" {
		t.Fatalf("stored %+v, want one firing alert case1", got)
	}
}
