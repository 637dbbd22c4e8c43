package handlers

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

func sampleOrder() ordersvc.Order {
	return ordersvc.Order{
		ID: "ord_0123456789abcdef01234567", ProductID: "sku-1", Quantity: 2, Type: ordersvc.OrderOnline,
		CustomerID: "c-42", UnitPrice: 2450, Amount: 4900, Currency: "USD", Status: ordersvc.OrderStatusCreated,
		CreatedAt: time.Date(2026, 12, 1, 22, 50, 31, 123456000, time.UTC),
	}
}

// TestOrderJSONMatchesEncodingJSON compares the hand-written encoding of
// an order with encoding/json's, byte for byte, over the cases where it
// writes and checks that it declines the others.
func TestOrderJSONMatchesEncodingJSON(t *testing.T) {
	cases := map[string]func(*ordersvc.Order){
		"usual":            func(*ordersvc.Order) {},
		"no customer":      func(o *ordersvc.Order) { o.CustomerID = "" },
		"whole units":      func(o *ordersvc.Order) { o.UnitPrice, o.Amount = 100, 300 },
		"tenths":           func(o *ordersvc.Order) { o.UnitPrice, o.Amount = 350, 700 },
		"max":              func(o *ordersvc.Order) { o.Amount = ordersvc.MaxMoney; o.Quantity = ordersvc.MaxQuantity },
		"whole second":     func(o *ordersvc.Order) { o.CreatedAt = o.CreatedAt.Truncate(time.Second) },
		"zero time":        func(o *ordersvc.Order) { o.CreatedAt = time.Time{}.UTC() },
		"html customer":    func(o *ordersvc.Order) { o.CustomerID = "<b>&amp;</b>" },
		"quote customer":   func(o *ordersvc.Order) { o.CustomerID = `a"b\c` },
		"unicode customer": func(o *ordersvc.Order) { o.CustomerID = "café\u2028" },
		"control customer": func(o *ordersvc.Order) { o.CustomerID = "a\x01\x7f" },
		"invalid utf-8":    func(o *ordersvc.Order) { o.CustomerID = "\xff" },
		"other zone":       func(o *ordersvc.Order) { o.CreatedAt = o.CreatedAt.In(time.FixedZone("X", 3600)) },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			o := sampleOrder()
			change(&o)
			checkOrderJSON(t, o)
		})
	}
}

func checkOrderJSON(t *testing.T, o ordersvc.Order) {
	t.Helper()
	want, err := json.Marshal(o)
	got, ok := appendOrderJSON(nil, o)
	if !ok {
		if err == nil && plainJSONSafe(o.CustomerID) && o.CreatedAt.Location() == time.UTC &&
			o.CreatedAt.Year() >= 0 && o.CreatedAt.Year() <= 9999 {
			t.Fatalf("declined %+v, which it can write", o)
		}
		return
	}
	if err != nil {
		t.Fatalf("wrote %s, encoding/json refuses: %v", got, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// FuzzOrderJSON: whatever the customer id, amounts and time, the
// hand-written encoding is encoding/json's or declines.
func FuzzOrderJSON(f *testing.F) {
	f.Add("c-42", int64(4900), int64(1700000000123456))
	f.Add("<&>", int64(-5), int64(0))
	f.Add("", int64(10), int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, customer string, amount, micros int64) {
		o := sampleOrder()
		o.CustomerID, o.Amount, o.CreatedAt = customer, ordersvc.Money(amount), time.UnixMicro(micros).UTC()
		checkOrderJSON(t, o)
	})
}

// BenchmarkOrderJSON encodes an order by hand and with encoding/json.
func BenchmarkOrderJSON(b *testing.B) {
	o := sampleOrder()
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf [512]byte
		for b.Loop() {
			if _, ok := appendOrderJSON(buf[:0], o); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
