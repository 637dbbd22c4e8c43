package handlers_test

import (
	"encoding/json"
	"testing"

	"github.com/ordersvc/ordersvc/handlers"
)

// FuzzDecodeOrder feeds arbitrary bodies to the order decoder. Whatever the
// input, it must not panic, must answer 400 or 422 when it refuses, and
// whatever it accepts must be a valid order. The seed corpus runs in plain
// `go test`; `go test -fuzz FuzzDecodeOrder ./handlers` explores further.
func FuzzDecodeOrder(f *testing.F) {
	for _, seed := range []string{
		`{"product_id":"sku-1","quantity":2,"type":"online","customer_id":"c-42"}`,
		`{"product_id":"sku-1","quantity":1000,"type":"phone"}`,
		`{"product_id":"sku-1","quantity":"2","type":"in_store"}`,
		`{"product_id":"sku-1","quantity":2.0,"type":"online"}`,
		`{"product_id":"sku-1","quantity":1e2,"type":"online"}`,
		`{"product_id":null,"quantity":null,"type":null}`,
		`{"product_id":"sku-1","quantity":2,"type":"online","extra":1}`,
		`[]`, `null`, `{}`, `{"a":`, "", "\x00", `{"product_id":"\u0000","quantity":1,"type":"online"}`,
		`{"product_id":"sku-1","quantity":1,"type":"online"} trailing`,
		`{"product_id":"sku-1","quantity":-0,"type":"online"}`,
		`{"product_id":"sku-1","quantity":01,"type":"online"}`,
		`{"product_id":"sku-1","product_id":"sku-2","quantity":1,"type":"online"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, p := handlers.DecodeOrder(body)
		if p != nil {
			if p.Status != 400 && p.Status != 422 {
				t.Fatalf("status %d for %q", p.Status, body)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Fatalf("problem does not encode: %v", err)
			}
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("accepted an invalid order from %q: %v", body, err)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	})
}
