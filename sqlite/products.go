package sqlite

import (
	"context"
	"fmt"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var _ ordersvc.InventoryService = (*DB)(nil)

// ProductPage returns up to limit products with ids after after, ordered by
// id (SQLite compares TEXT with memcmp: byte order). It reads one row more
// than the page to learn whether another page follows, so the last page
// has no next cursor and a walk never ends with an empty page.
func (db *DB) ProductPage(ctx context.Context, after string, limit int) ([]ordersvc.Product, string, error) {
	limit = ordersvc.ClampProductPage(limit)
	// The primary key's index serves both the range and the order.
	products, err := db.queryProducts(ctx, "WHERE id > ? ORDER BY id LIMIT ?", after, limit+1)
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

// queryProducts reads products with the given WHERE/ORDER/LIMIT tail. It
// never returns nil products without an error.
func (db *DB) queryProducts(ctx context.Context, tail string, args ...any) ([]ordersvc.Product, error) {
	var products []ordersvc.Product
	err := db.timed(ctx, "select", "products", func() error {
		rows, err := db.read.QueryContext(ctx, "SELECT "+rowscan.ProductColumns+" FROM products "+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		products, err = rowscan.All(rows, rowscan.Product)
		return err
	})
	return products, err
}

// ProductStocks calls fn with every product's id and stock, streaming the
// rows. Without ORDER BY, SQLite reads the covering index
// products_by_stock (stock, id) instead of the table: the rows stay small
// and no sort is needed (the exposition sorts series anyway).
func (db *DB) ProductStocks(ctx context.Context, fn func(id string, stock int64) error) error {
	var fnErr error
	err := db.timed(ctx, "select", "products", func() error {
		rows, err := db.read.QueryContext(ctx, "SELECT id, stock FROM products")
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

// UpsertProduct creates or replaces a product. The existence check and
// the write share one transaction on the single writer connection, so
// "created" is exact under concurrent upserts of the same id.
func (db *DB) UpsertProduct(ctx context.Context, p ordersvc.Product) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return false, unavailable(err, "upsert product: begin")
	}
	defer func() { _ = tx.Rollback() }()

	var exists bool
	err = db.timed(ctx, "select", "products", func() error {
		return tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)", p.ID).Scan(&exists)
	})
	if err != nil {
		return false, unavailable(err, "upsert product: look up")
	}
	err = db.timed(ctx, "upsert", "products", func() error {
		_, err := tx.ExecContext(ctx, `INSERT INTO products (id, name, unit_price, stock, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, unit_price = excluded.unit_price,
			stock = excluded.stock, updated_at = excluded.updated_at`,
			p.ID, p.Name, int64(p.UnitPrice), p.Stock, db.now().UnixMicro())
		return err
	})
	if err != nil {
		return false, unavailable(err, "upsert product")
	}
	if err := db.commit(tx); err != nil {
		return false, unavailable(err, "upsert product: commit")
	}
	return !exists, nil
}

// SeedIfEmpty inserts products when the catalog is empty and no order was
// ever placed, and reports whether it did. A database that has data is
// recognised without a write transaction, so that a read-only one opens.
func (db *DB) SeedIfEmpty(ctx context.Context, products []ordersvc.Product) (bool, error) {
	var rows int
	if err := db.read.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM orders)").Scan(&rows); err != nil {
		return false, fmt.Errorf("seed: count: %w", err)
	}
	if rows > 0 {
		return false, nil
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return false, fmt.Errorf("seed: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM orders)").Scan(&n); err != nil {
		return false, fmt.Errorf("seed: count: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	for _, p := range products {
		if err := p.Validate(); err != nil {
			return false, fmt.Errorf("seed product %q: %w", p.ID, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO products (id, name, unit_price, stock, updated_at) VALUES (?, ?, ?, ?, ?)",
			p.ID, p.Name, int64(p.UnitPrice), p.Stock, db.now().UnixMicro()); err != nil {
			return false, fmt.Errorf("seed product %q: %w", p.ID, err)
		}
	}
	if err := db.commit(tx); err != nil {
		return false, fmt.Errorf("seed: commit: %w", err)
	}
	return true, nil
}

// unavailable wraps a storage failure as KindUnavailable: the client may
// retry. A cause that is already KindUnavailable keeps its message, which
// says more (say, that the database file was removed).
func unavailable(err error, what string) error {
	if e, ok := ordersvc.AsError(err); ok && e.Kind == ordersvc.KindUnavailable {
		return fmt.Errorf("%s: %w", what, err)
	}
	return ordersvc.WrapError(ordersvc.KindUnavailable, fmt.Errorf("%s: %w", what, err), "the database is unavailable")
}
