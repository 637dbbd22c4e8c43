package storetest

import (
	"reflect"
	"testing"

	"github.com/ordersvc/ordersvc"
)

var reportTests = []test{
	{"Empty", testSummaryEmpty},
	{"ExactSums", testSummaryExactSums},
	{"AmountCap", testAmountCap},
}

// testAmountCap: an order whose amount would exceed MaxOrderAmount is
// refused as invalid (422) and changes nothing; one at the cap is placed.
func testAmountCap(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "yacht", Name: "Yacht", UnitPrice: ordersvc.MaxMoney, Stock: 1000})
	_, _, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "yacht", Quantity: 2, Type: ordersvc.OrderOnline})
	if ordersvc.KindOf(err) != ordersvc.KindInvalid || ordersvc.ReasonOf(err) != ordersvc.RejectInvalid {
		t.Fatalf("an order of twice the cap: %v (kind %v, reason %q), want invalid", err, ordersvc.KindOf(err), ordersvc.ReasonOf(err))
	}
	if stock := stockOf(t, s, "yacht"); stock != 1000 {
		t.Errorf("stock = %d after a refused order, want 1000", stock)
	}
	if sum := summary(t, s); sum.Orders != 0 {
		t.Errorf("%d orders after a refused one", sum.Orders)
	}
	o, created, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "yacht", Quantity: 1, Type: ordersvc.OrderOnline})
	mustf(t, err, "an order at the cap")
	if !created || o.Amount != ordersvc.MaxOrderAmount {
		t.Errorf("order at the cap: created %v, amount %d", created, o.Amount)
	}
}

func testSummaryEmpty(t *testing.T, open Opener) {
	s := openDefault(t, open)
	got := summary(t, s)
	want := ordersvc.Summary{Revenue: map[ordersvc.OrderType]ordersvc.Sum{}, Currency: testCurrency,
		LowStock: []ordersvc.Product{}, LowStockBelow: ordersvc.LowStockThreshold}
	for _, typ := range ordersvc.OrderTypes() {
		want.Revenue[typ] = ordersvc.Sum{}
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
		Revenue:       map[ordersvc.OrderType]ordersvc.Sum{ordersvc.OrderOnline: ordersvc.SumOf(online), ordersvc.OrderPhone: ordersvc.SumOf(phone), ordersvc.OrderInStore: {}},
		TotalRevenue:  ordersvc.SumOf(online + phone),
		Currency:      testCurrency,
		LowStock:      []ordersvc.Product{products[4], products[3], products[2]},
		LowStockBelow: ordersvc.LowStockThreshold,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary\n  %+v\nwant\n  %+v", got, want)
	}
}
