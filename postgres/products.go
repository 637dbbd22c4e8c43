package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var _ ordersvc.InventoryService = (*DB)(nil)

// ProductPage returns up to limit products with ids after after, ordered by
// id; ids are COLLATE "C", so the order is byte order as in SQLite and
// the primary key's index serves both the range and the order. It reads
// one row more than the page to learn whether another page follows, so
// the last page has no next cursor.
func (db *DB) ProductPage(ctx context.Context, after string, limit int) ([]ordersvc.Product, string, error) {
	limit = ordersvc.ClampProductPage(limit)
	if hasNUL(after) {
		// PostgreSQL text cannot hold a NUL, so the query would fail as
		// if the database were down; such a cursor is the caller's
		// mistake (no product id has one), refused as invalid.
		return nil, "", ordersvc.InvalidFields(ordersvc.FieldError{Field: "after", Message: "must not contain NUL characters"})
	}
	products, err := db.queryProducts(ctx, "WHERE id > $1 ORDER BY id LIMIT $2", after, limit+1)
	if err != nil {
		return nil, "", unavailable(err, "list products")
	}
	var next string
	if len(products) > limit {
		products = products[:limit]
		next = products[limit-1].ID
	}
	return products, next, nil
}

// ProductStocks calls fn with every product's id and stock, streaming the
// rows from the server as they arrive (pgx reads the result set
// incrementally), so the catalog is never held in memory at once.
func (db *DB) ProductStocks(ctx context.Context, fn func(id string, stock int64) error) error {
	var fnErr error
	err := db.timed(ctx, "select", "products", func() error {
		rows, err := db.pool.Query(ctx, "SELECT id, stock FROM products")
		if err != nil {
			return err
		}
		defer rows.Close()
		fnErr, err = rowscan.Stocks(rows, fn)
		return err
	})
	if err != nil {
		return unavailable(err, "read product stocks")
	}
	return fnErr
}

// queryProducts reads products with the given WHERE/ORDER/LIMIT tail. It
// never returns nil products without an error.
func (db *DB) queryProducts(ctx context.Context, tail string, args ...any) ([]ordersvc.Product, error) {
	var products []ordersvc.Product
	err := db.timed(ctx, "select", "products", func() error {
		rows, err := db.pool.Query(ctx, "SELECT "+rowscan.ProductColumns+" FROM products "+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		products, err = rowscan.All(rows, rowscan.Product)
		return err
	})
	return products, err
}

// UpsertProduct creates or replaces a product in one statement; xmax
// tells an inserted row version from an updated one, so "created" is
// exact even when replicas upsert the same id at once.
func (db *DB) UpsertProduct(ctx context.Context, p ordersvc.Product) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	if hasNUL(p.Name) {
		return false, ordersvc.InvalidFields(ordersvc.FieldError{Field: "name", Message: "must not contain NUL characters"})
	}
	var created bool
	err := db.timed(ctx, "upsert", "products", func() error {
		// xmax is 0 only in a freshly inserted row version.
		return db.pool.QueryRow(ctx, `INSERT INTO products (id, name, unit_price, stock, updated_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, unit_price = excluded.unit_price,
			stock = excluded.stock, updated_at = excluded.updated_at
			RETURNING xmax = 0`,
			p.ID, p.Name, int64(p.UnitPrice), p.Stock, db.now()).Scan(&created)
	})
	if err != nil {
		return false, unavailable(err, "upsert product")
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
