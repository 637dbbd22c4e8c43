package storetest

import (
	"reflect"
	"testing"

	"github.com/ordersvc/ordersvc"
)

var reportTests = []test{
	{"Empty", testSummaryEmpty},
	{"ExactSums", testSummaryExactSums},
}

func testSummaryEmpty(t *testing.T, open Opener) {
	s := openDefault(t, open)
	got := summary(t, s)
	want := ordersvc.Summary{Revenue: map[ordersvc.OrderType]ordersvc.Money{}, Currency: testCurrency,
		LowStock: []ordersvc.Product{}, LowStockBelow: ordersvc.LowStockThreshold}
	for _, typ := range ordersvc.OrderTypes() {
		want.Revenue[typ] = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("empty summary\n  %#v\nwant\n  %#v", got, want)
	}
}

// testSummaryExactSums places orders whose amounts are the largest the
// domain allows and checks every sum to the minor unit, with the low-stock
// list ordered by stock then id.
func testSummaryExactSums(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	// unit price × MaxQuantity is exactly MaxMoney.
	const bigPrice = ordersvc.MaxMoney / ordersvc.MaxQuantity
	products := []ordersvc.Product{
		{ID: "big", Name: "Big", UnitPrice: bigPrice, Stock: ordersvc.MaxStock},
		{ID: "odd", Name: "Odd", UnitPrice: 333, Stock: 100},
		{ID: "low-b", Name: "Low B", UnitPrice: 1, Stock: 9},
		{ID: "low-a", Name: "Low A", UnitPrice: 1, Stock: 9},
		{ID: "zero", Name: "Zero", UnitPrice: 1, Stock: 0},
		{ID: "ten", Name: "Ten", UnitPrice: 1, Stock: ordersvc.LowStockThreshold},
	}
	for _, p := range products {
		upsert(t, s, p)
	}
	orders := []struct {
		product  string
		quantity int64
		typ      ordersvc.OrderType
	}{
		{"big", ordersvc.MaxQuantity, ordersvc.OrderOnline},
		{"big", ordersvc.MaxQuantity, ordersvc.OrderOnline},
		{"big", ordersvc.MaxQuantity, ordersvc.OrderOnline},
		{"big", 999, ordersvc.OrderPhone},
		{"odd", 7, ordersvc.OrderPhone},
		{"odd", 1, ordersvc.OrderOnline},
	}
	for _, o := range orders {
		_, _, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: o.product, Quantity: o.quantity, Type: o.typ})
		mustf(t, err, "order %d of %s", o.quantity, o.product)
	}
	got := summary(t, s)
	online := 3*ordersvc.MaxMoney + 333
	phone := bigPrice*999 + 7*333
	want := ordersvc.Summary{
		Orders:        int64(len(orders)),
		Revenue:       map[ordersvc.OrderType]ordersvc.Money{ordersvc.OrderOnline: online, ordersvc.OrderPhone: phone, ordersvc.OrderInStore: 0},
		TotalRevenue:  online + phone,
		Currency:      testCurrency,
		LowStock:      []ordersvc.Product{products[4], products[3], products[2]},
		LowStockBelow: ordersvc.LowStockThreshold,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary\n  %+v\nwant\n  %+v", got, want)
	}
}
