package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordersvc/ordersvc"
)

var _ ordersvc.InventoryService = (*DB)(nil)

// Products returns every product ordered by id (byte order).
func (db *DB) Products(ctx context.Context) ([]ordersvc.Product, error) {
	products, err := db.queryProducts(ctx, "ORDER BY id LIMIT $1", ordersvc.MaxProducts)
	if err != nil {
		return nil, unavailable(err, "list products")
	}
	return products, nil
}

// queryProducts reads products with the given WHERE/ORDER/LIMIT tail. It
// never returns nil products without an error.
func (db *DB) queryProducts(ctx context.Context, tail string, args ...any) ([]ordersvc.Product, error) {
	products := []ordersvc.Product{}
	err := db.timed("select", "products", func() error {
		rows, err := db.pool.Query(ctx, "SELECT id, name, unit_price, stock FROM products "+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p ordersvc.Product
			var unitPrice int64
			if err := rows.Scan(&p.ID, &p.Name, &unitPrice, &p.Stock); err != nil {
				return err
			}
			p.UnitPrice = ordersvc.Money(unitPrice)
			products = append(products, p)
		}
		return rows.Err()
	})
	return products, err
}

// UpsertProduct creates or replaces a product. A new product is refused
// with KindConflict once the catalog holds ordersvc.MaxProducts products.
// Creating a product takes the catalog's advisory lock, so replicas
// creating products at once cannot together exceed the bound.
func (db *DB) UpsertProduct(ctx context.Context, p ordersvc.Product) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	if hasNUL(p.Name) {
		return false, ordersvc.InvalidFields(ordersvc.FieldError{Field: "name", Message: "must not contain NUL characters"})
	}
	var created bool
	err := db.inTx(ctx, "upsert product", func(tx pgx.Tx) error {
		var exists bool
		err := db.timed("select", "products", func() error {
			return tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)", p.ID).Scan(&exists)
		})
		if err != nil {
			return unavailable(err, "upsert product: look up")
		}
		if !exists {
			var count int
			err := db.timed("select", "products", func() error {
				if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockCatalog); err != nil {
					return err
				}
				return tx.QueryRow(ctx, "SELECT count(*) FROM products").Scan(&count)
			})
			if err != nil {
				return unavailable(err, "upsert product: count")
			}
			if count >= ordersvc.MaxProducts {
				return ordersvc.Errorf(ordersvc.KindConflict, "the catalog is full (%d products)", ordersvc.MaxProducts)
			}
		}
		return db.timed("upsert", "products", func() error {
			// xmax is 0 only in a freshly inserted row version.
			err := tx.QueryRow(ctx, `INSERT INTO products (id, name, unit_price, stock, updated_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, unit_price = excluded.unit_price,
				stock = excluded.stock, updated_at = excluded.updated_at
				RETURNING xmax = 0`,
				p.ID, p.Name, int64(p.UnitPrice), p.Stock, db.now()).Scan(&created)
			if err != nil {
				return unavailable(err, "upsert product")
			}
			return nil
		})
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// SeedIfEmpty inserts products when the catalog is empty and no order was
// ever placed, and reports whether it did. It holds the catalog's
// advisory lock, so replicas starting at once seed exactly once.
func (db *DB) SeedIfEmpty(ctx context.Context, products []ordersvc.Product) (bool, error) {
	for _, p := range products {
		if err := p.Validate(); err != nil {
			return false, fmt.Errorf("seed product %q: %w", p.ID, err)
		}
	}
	var seeded bool
	err := db.inTx(ctx, "seed", func(tx pgx.Tx) error {
		seeded = false // a retried attempt starts over
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockCatalog); err != nil {
			return fmt.Errorf("seed: lock: %w", err)
		}
		var used bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM products) OR EXISTS (SELECT 1 FROM orders)").Scan(&used); err != nil {
			return fmt.Errorf("seed: count: %w", err)
		}
		if used {
			return nil
		}
		now := db.now()
		for _, p := range products {
			if _, err := tx.Exec(ctx, "INSERT INTO products (id, name, unit_price, stock, updated_at) VALUES ($1, $2, $3, $4, $5)",
				p.ID, p.Name, int64(p.UnitPrice), p.Stock, now); err != nil {
				return fmt.Errorf("seed product %q: %w", p.ID, err)
			}
		}
		seeded = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return seeded, nil
}
