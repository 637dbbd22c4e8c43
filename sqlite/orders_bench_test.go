package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ordersvc/ordersvc"
)

// BenchmarkCreateOrder places orders one after another on a file database
// (WAL, as the service opens it), with and without an idempotency key:
// the cost of the write transaction itself, without HTTP.
func BenchmarkCreateOrder(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprintf("keyed=%v", keyed), func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.SeedIfEmpty(ctx, []ordersvc.Product{{ID: "p-1", Name: "P", UnitPrice: 100, Stock: ordersvc.MaxStock}}); err != nil {
				b.Fatal(err)
			}
			n := ordersvc.NewOrder{ProductID: "p-1", Quantity: 1, Type: ordersvc.OrderOnline, CustomerID: "c-1"}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if keyed {
					n.IdempotencyKey = fmt.Sprintf("k-%d", i)
				}
				if _, _, err := db.CreateOrder(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateOrderParallel places orders from 16 goroutines at once,
// as 16 connections of the service would: with group commit, the orders
// that queue while a transaction commits share the next one.
func BenchmarkCreateOrderParallel(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SeedIfEmpty(ctx, []ordersvc.Product{{ID: "p-1", Name: "P", UnitPrice: 100, Stock: ordersvc.MaxStock}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8) // × GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		n := ordersvc.NewOrder{ProductID: "p-1", Quantity: 1, Type: ordersvc.OrderOnline, CustomerID: "c-1"}
		for pb.Next() {
			if _, _, err := db.CreateOrder(ctx, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
