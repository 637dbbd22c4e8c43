package postgres

import (
	"context"
	"testing"

	"github.com/ordersvc/ordersvc"
)

// BenchmarkCreateOrder places orders on a throwaway PostgreSQL server,
// one at a time (the round trips of one order) and from 16 goroutines (a
// loaded replica), on 100 products.
func BenchmarkCreateOrder(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, pg.Server(b).NewDatabase(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	products := make([]ordersvc.Product, 100)
	for i := range products {
		products[i] = ordersvc.Product{ID: "p-" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Name: "P", UnitPrice: 100, Stock: ordersvc.MaxStock}
	}
	if _, err := db.SeedIfEmpty(ctx, products); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			n := ordersvc.NewOrder{ProductID: products[i%len(products)].ID, Quantity: 1, Type: ordersvc.OrderOnline}
			if _, _, err := db.CreateOrder(ctx, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				n := ordersvc.NewOrder{ProductID: products[i%len(products)].ID, Quantity: 1, Type: ordersvc.OrderOnline}
				if _, _, err := db.CreateOrder(ctx, n); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
