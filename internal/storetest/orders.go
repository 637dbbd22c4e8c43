package storetest

import (
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

var orderTests = []test{
	{"CreateAndRead", testCreateAndRead},
	{"NotFound", testOrderNotFound},
	{"Invalid", testOrderInvalid},
	{"UnknownProduct", testUnknownProduct},
	{"OutOfStock", testOutOfStock},
	{"NoOversellUnderConcurrency", testNoOversell},
}

func testCreateAndRead(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 2450, Stock: 10})
	before := time.Now().UTC().Truncate(time.Microsecond)
	o, created, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 3, Type: ordersvc.OrderPhone, CustomerID: "c-é-☕"})
	after := time.Now().UTC()
	mustf(t, err, "create order")
	if !created {
		t.Error("created = false for a new order")
	}
	want := ordersvc.Order{ID: o.ID, ProductID: "sku-1", Quantity: 3, Type: ordersvc.OrderPhone, CustomerID: "c-é-☕",
		UnitPrice: 2450, Amount: 7350, Currency: testCurrency, Status: ordersvc.OrderStatusCreated, CreatedAt: o.CreatedAt}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("order =\n  %+v\nwant\n  %+v", o, want)
	}
	if !strings.HasPrefix(o.ID, "ord_") || len(o.ID) > ordersvc.MaxOrderIDLen {
		t.Errorf("id %q: want ord_… of at most %d characters", o.ID, ordersvc.MaxOrderIDLen)
	}
	if o.CreatedAt.Before(before) || o.CreatedAt.After(after) || o.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at %v: want UTC between %v and %v", o.CreatedAt, before, after)
	}
	got, err := s.Order(ctx, o.ID)
	mustf(t, err, "read order")
	if !reflect.DeepEqual(got, o) {
		t.Errorf("read back\n  %+v\ncreated\n  %+v", got, o)
	}
	if stock := stockOf(t, s, "sku-1"); stock != 7 {
		t.Errorf("stock = %d after ordering 3 of 10, want 7", stock)
	}
	// A second order is another order.
	o2, created, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 3, Type: ordersvc.OrderPhone, CustomerID: "c-é-☕"})
	mustf(t, err, "second order")
	if !created || o2.ID == o.ID {
		t.Errorf("second identical order without a key: created=%v id=%s (first %s), want a new order", created, o2.ID, o.ID)
	}
}

func testOrderNotFound(t *testing.T, open Opener) {
	s := openDefault(t, open)
	for _, id := range []string{"ord_000000000000000000000000", "", "ord with spaces", "'; DROP TABLE orders; --", strings.Repeat("x", ordersvc.MaxOrderIDLen)} {
		_, err := s.Order(ctxFor(t), id)
		if ordersvc.KindOf(err) != ordersvc.KindNotFound {
			t.Errorf("Order(%q) = %v, want a not-found error", id, err)
		}
	}
}

func testOrderInvalid(t *testing.T, open Opener) {
	s := openDefault(t, open)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 100})
	ok := ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline}
	for _, tc := range []struct {
		name  string
		edit  func(*ordersvc.NewOrder)
		field string
	}{
		{"zero quantity", func(n *ordersvc.NewOrder) { n.Quantity = 0 }, "quantity"},
		{"negative quantity", func(n *ordersvc.NewOrder) { n.Quantity = -5 }, "quantity"},
		{"quantity over the maximum", func(n *ordersvc.NewOrder) { n.Quantity = ordersvc.MaxQuantity + 1 }, "quantity"},
		{"unknown type", func(n *ordersvc.NewOrder) { n.Type = "mail" }, "type"},
		{"empty product id", func(n *ordersvc.NewOrder) { n.ProductID = "" }, "product_id"},
		{"bad product id", func(n *ordersvc.NewOrder) { n.ProductID = "../sku-1" }, "product_id"},
		{"long customer id", func(n *ordersvc.NewOrder) { n.CustomerID = strings.Repeat("c", ordersvc.MaxCustomerIDLen+1) }, "customer_id"},
		{"long idempotency key", func(n *ordersvc.NewOrder) { n.IdempotencyKey = strings.Repeat("k", ordersvc.MaxIdempotencyKeyLen+1) }, "Idempotency-Key"},
	} {
		n := ok
		tc.edit(&n)
		_, _, err := s.CreateOrder(ctxFor(t), n)
		wantRefusal(t, tc.name, err, ordersvc.KindInvalid, ordersvc.RejectInvalid)
		if e, isErr := ordersvc.AsError(err); isErr && (len(e.Fields) == 0 || e.Fields[0].Field != tc.field) {
			t.Errorf("%s: fields %+v, want %s first", tc.name, e.Fields, tc.field)
		}
	}
	if stock := stockOf(t, s, "sku-1"); stock != 100 {
		t.Errorf("stock = %d after refused orders, want 100", stock)
	}
	if sum := summary(t, s); sum.Orders != 0 {
		t.Errorf("%d orders stored after refused orders", sum.Orders)
	}
}

func testUnknownProduct(t *testing.T, open Opener) {
	s := openDefault(t, open)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 100})
	for _, id := range []string{"sku-404", "SKU-1", "sku-1.", "sku-1_"} {
		_, _, err := s.CreateOrder(ctxFor(t), ordersvc.NewOrder{ProductID: id, Quantity: 1, Type: ordersvc.OrderOnline})
		wantRefusal(t, "order of "+id, err, ordersvc.KindNotFound, ordersvc.RejectUnknownProduct)
		if e, ok := ordersvc.AsError(err); ok && e.Message != ordersvc.UnknownProduct(id).Message {
			t.Errorf("message %q, want %q", e.Message, ordersvc.UnknownProduct(id).Message)
		}
	}
}

func testOutOfStock(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 5})
	steps := []struct {
		quantity  int64
		ok        bool
		stockLeft int64
	}{
		{6, false, 5}, // more than there is
		{5, true, 0},  // exactly what there is
		{1, false, 0}, // nothing left
	}
	for _, st := range steps {
		_, _, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: st.quantity, Type: ordersvc.OrderOnline})
		if st.ok {
			mustf(t, err, "order of %d", st.quantity)
		} else {
			wantRefusal(t, "order over the stock", err, ordersvc.KindConflict, ordersvc.RejectOutOfStock)
			if e, ok := ordersvc.AsError(err); ok && e.Message != ordersvc.OutOfStock("sku-1", st.quantity, st.stockLeft).Message {
				t.Errorf("message %q, want %q", e.Message, ordersvc.OutOfStock("sku-1", st.quantity, st.stockLeft).Message)
			}
		}
		if stock := stockOf(t, s, "sku-1"); stock != st.stockLeft {
			t.Errorf("after an order of %d: stock %d, want %d", st.quantity, stock, st.stockLeft)
		}
	}
}

// testNoOversell places 200 concurrent orders of 1 against a stock of 50:
// exactly 50 succeed, the rest are refused as out of stock.
func testNoOversell(t *testing.T, open Opener) {
	const orders, stock = 200, 50
	s := openDefault(t, open)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: stock})
	ctx := ctxFor(t)
	var created, outOfStock, other atomic.Int64
	var firstOther atomic.Value
	parallel(orders, func(i int) {
		_, ok, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline})
		switch {
		case err == nil && ok:
			created.Add(1)
		case ordersvc.KindOf(err) == ordersvc.KindConflict && ordersvc.ReasonOf(err) == ordersvc.RejectOutOfStock:
			outOfStock.Add(1)
		default:
			other.Add(1)
			firstOther.CompareAndSwap(nil, firstLine(err))
		}
	})
	if created.Load() != stock || outOfStock.Load() != orders-stock || other.Load() != 0 {
		t.Errorf("%d concurrent orders against stock %d: %d created, %d out of stock, %d other (first: %v); want %d, %d, 0",
			orders, stock, created.Load(), outOfStock.Load(), other.Load(), firstOther.Load(), stock, orders-stock)
	}
	if left := stockOf(t, s, "sku-1"); left != 0 {
		t.Errorf("stock left = %d, want 0", left)
	}
	if sum := summary(t, s); sum.Orders != stock || sum.TotalRevenue != ordersvc.SumOf(stock*100) {
		t.Errorf("summary: %d orders, revenue %v; want %d, %v", sum.Orders, sum.TotalRevenue, stock, ordersvc.SumOf(stock*100))
	}
}
