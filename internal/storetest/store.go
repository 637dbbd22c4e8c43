package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

var storeTests = []test{
	{"Ping", testPing},
	{"QueriesAreTimed", testQueriesAreTimed},
	{"DefaultCurrency", testDefaultCurrency},
	{"NULIsStoredOrRefused", testNULIsStoredOrRefused},
}

func testPing(t *testing.T, open Opener) {
	s := openDefault(t, open)
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// testQueriesAreTimed runs every kind of query and checks that each was
// reported to the observer with the labels every store shares.
func testQueriesAreTimed(t *testing.T, open Opener) {
	rec := &recorder{}
	s := open(t, Config{Currency: testCurrency, Observer: rec})
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 1})
	o, _, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline, IdempotencyKey: "k"})
	mustf(t, err, "order")
	_, _, _ = s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline}) // out of stock
	_, err = s.Order(ctx, o.ID)
	mustf(t, err, "read order")
	_ = summary(t, s)
	a := firingAlert("t1", alertStart)
	_, err = s.RecordAlerts(ctx, notify(a), alertStart)
	mustf(t, err, "alert")
	_, err = s.RecordAlerts(ctx, notify(resolvedCopy(a, alertStart.Add(time.Minute))), alertStart.Add(time.Minute))
	mustf(t, err, "resolve")
	_, err = s.Alerts(ctx, ordersvc.AlertFilter{})
	mustf(t, err, "list alerts")
	_, err = s.DeleteResolvedAlerts(ctx, alertStart)
	mustf(t, err, "retention")
	_, err = s.RecordHeartbeat(ctx, "heartbeat", alertStart)
	mustf(t, err, "heartbeat")
	_, _, err = s.ClaimSilence(ctx, alertStart.Add(time.Hour), time.Minute)
	mustf(t, err, "claim silence")
	if got, want := rec.labels(), QueryLabels(); !reflect.DeepEqual(got, want) {
		t.Errorf("timed queries %v, want exactly %v", got, want)
	}
}

func testDefaultCurrency(t *testing.T, open Opener) {
	s := open(t, Config{})
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 1})
	o, _, err := s.CreateOrder(ctxFor(t), ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline})
	mustf(t, err, "order")
	if o.Currency != "USD" || summary(t, s).Currency != "USD" {
		t.Errorf("currency %q without configuration, want USD", o.Currency)
	}
}

// testNULIsStoredOrRefused: text the domain lets through may hold a NUL,
// which some databases cannot store. A store must keep it exactly or
// refuse it as invalid (the client's fault), never fail as unavailable.
func testNULIsStoredOrRefused(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	upsert(t, s, ordersvc.Product{ID: "sku-1", Name: "Beans", UnitPrice: 100, Stock: 10})
	o, _, err := s.CreateOrder(ctx, ordersvc.NewOrder{ProductID: "sku-1", Quantity: 1, Type: ordersvc.OrderOnline, CustomerID: "c\x00d"})
	switch {
	case err == nil:
		if got, err := s.Order(ctx, o.ID); err != nil || got.CustomerID != "c\x00d" {
			t.Errorf("customer id with NUL read back as %q, %v", got.CustomerID, err)
		}
	default:
		wantRefusal(t, "customer id with NUL", err, ordersvc.KindInvalid, ordersvc.RejectInvalid)
	}
	_, err = s.UpsertProduct(ctx, ordersvc.Product{ID: "sku-2", Name: "a\x00b", UnitPrice: 1, Stock: 1})
	if err != nil && ordersvc.KindOf(err) != ordersvc.KindInvalid {
		t.Errorf("product name with NUL: %v, want stored or invalid", err)
	}
	a := firingAlert("n1", alertStart)
	a.Labels = map[string]string{"alertname": "A\x00B", "severity": "warning", "other": "x\x00y"}
	a.Annotations = map[string]string{"summary": "s\x00t"}
	n := notify(a)
	n.Receiver = "r\x00"
	changes, err := s.RecordAlerts(ctx, n, alertStart)
	switch {
	case err == nil:
		list, err := s.Alerts(ctx, ordersvc.AlertFilter{Limit: 1})
		if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], changes[0].Alert) {
			t.Errorf("alert with NULs read back as %+v, %v; want %+v", list, err, changes[0].Alert)
		}
	case ordersvc.KindOf(err) != ordersvc.KindInvalid:
		t.Errorf("alert with NULs: %v, want stored or invalid", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after NUL text: %v", err)
	}
}
