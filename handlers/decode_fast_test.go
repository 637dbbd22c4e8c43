package handlers

import (
	"testing"
)

// fastPathSeeds are bodies on both sides of the fast path's edge.
var fastPathSeeds = []string{
	`{"product_id":"sku-1","quantity":2,"type":"online","customer_id":"c-42"}`,
	" \t\r\n{ \"product_id\" : \"sku-1\" , \"quantity\" : 1000 , \"type\" : \"phone\" } \n",
	`{"type":"in_store","quantity":7,"product_id":"a.b_c-D"}`,
	`{"product_id":"sku-1","quantity":2,"type":"online","customer_id":""}`,
	"{\"product_id\":\"sku-1\",\"quantity\":2,\"type\":\"online\",\"customer_id\":\"<&>\x7f~\"}",
	`{"product_id":"sku-1","quantity":2,"type":"online","customer_id":"caf\u00e9"}`,
	`{"product_id":"sku-1","quantity":2,"type":"online","customer_id":"café"}`,
	`{"product_id":"sku-1","quantity":2,"type":"online","PRODUCT_ID":"sku-2"}`,
	`{"Product_id":"sku-1","quantity":2,"type":"online"}`,
	`{"product_id":"sku-1","product_id":"sku-2","quantity":1,"type":"online"}`,
	`{"product_id":"sku-1","quantity":1001,"type":"online"}`,
	`{"product_id":"sku-1","quantity":0,"type":"online"}`,
	`{"product_id":"sku-1","quantity":01,"type":"online"}`,
	`{"product_id":"sku-1","quantity":-1,"type":"online"}`,
	`{"product_id":"sku-1","quantity":1.0,"type":"online"}`,
	`{"product_id":"sku-1","quantity":1e1,"type":"online"}`,
	`{"product_id":"sku-1","quantity":12345678,"type":"online"}`,
	`{"product_id":"sku-1","quantity":"2","type":"online"}`,
	`{"product_id":"sku-1","quantity":2,"type":"ONLINE"}`,
	`{"product_id":"sku-1","quantity":2,"type":"online"}x`,
	`{"product_id":"sku-1","quantity":2,"type":"online",}`,
	`{"product_id":"sku-1","quantity":2,"type":"online"`,
	`{"product_id":"sku-1","quantity":2 3,"type":"online"}`,
	`{"product_id":null,"quantity":2,"type":"online"}`,
	`{"product_id":"sku 1","quantity":2,"type":"online"}`,
	"\v{\"product_id\":\"sku-1\",\"quantity\":2,\"type\":\"online\"}",
	`{}`, `{"":1}`, `[]`, `""`, ``,
}

// FuzzDecodeOrderFastPath checks the fast path against the general one:
// whatever body the fast path accepts, the general path accepts too, with
// the same order. (What the fast path declines goes to the general path,
// so the answer for it is the general path's by construction.)
func FuzzDecodeOrderFastPath(f *testing.F) {
	for _, s := range fastPathSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodeOrderFast(body)
		if !ok {
			return
		}
		general, p := decodeOrderGeneral(body)
		if p != nil {
			t.Fatalf("fast path accepted %q, the general path refuses it: %d %s", body, p.Status, p.Detail)
		}
		if fast != general {
			t.Fatalf("%q: fast path %+v, general path %+v", body, fast, general)
		}
	})
}

// TestDecodeOrderFastPathTaken makes sure the common bodies do take the
// fast path (else it would be dead code that the fuzz test cannot catch).
func TestDecodeOrderFastPathTaken(t *testing.T) {
	for _, s := range fastPathSeeds[:5] {
		if _, ok := decodeOrderFast([]byte(s)); !ok {
			t.Errorf("%q: not taken", s)
		}
	}
	for _, s := range fastPathSeeds[5:] {
		if _, ok := decodeOrderFast([]byte(s)); ok {
			t.Errorf("%q: taken, but belongs to the general path", s)
		}
	}
}

// BenchmarkDecodeOrder decodes the usual body with DecodeOrder (the fast
// path) and with the general path alone.
func BenchmarkDecodeOrder(b *testing.B) {
	body := []byte(`{"product_id":"sku-1","quantity":2,"type":"online","customer_id":"c-42"}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, p := DecodeOrder(body); p != nil {
				b.Fatal(p.Detail)
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, p := decodeOrderGeneral(body); p != nil {
				b.Fatal(p.Detail)
			}
		}
	})
}
