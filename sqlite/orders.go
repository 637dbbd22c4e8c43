package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ordersvc/ordersvc"
)

var (
	_ ordersvc.OrderService  = (*DB)(nil)
	_ ordersvc.ReportService = (*DB)(nil)
)

const orderColumns = "id, product_id, quantity, type, customer_id, unit_price, amount, currency, status, created_at"

// CreateOrder's statements. SQLite compiles a statement from its text on
// every call unless it is prepared; compiling these four cost about a fifth
// of the CPU of an order (the parser was the biggest entry of a profile
// under load), so they are prepared once on the write pool and bound to
// each transaction with Tx.StmtContext, which reuses the compiled statement
// of the pool's one connection (and prepares again, by itself, on a new
// connection should the old one be replaced).
const (
	sqlOrderByKey = "SELECT " + orderColumns + ", request_hash FROM orders WHERE idempotency_key = ?"
	sqlDecrement  = "UPDATE products SET stock = stock - ?1, updated_at = ?2 WHERE id = ?3 AND stock >= ?1 RETURNING unit_price"
	sqlInsert     = "INSERT INTO orders (" + orderColumns + ", idempotency_key, request_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// The totals row of the type: SET reads the old revenue_lo in both
	// expressions, so the carry is exact.
	sqlTotals = `INSERT INTO order_totals (type, orders, revenue_hi, revenue_lo) VALUES (?1, 1, 0, ?2)
			ON CONFLICT (type) DO UPDATE SET orders = orders + 1,
				revenue_hi = revenue_hi + (revenue_lo + ?2) / 1000000000000000000,
				revenue_lo = (revenue_lo + ?2) % 1000000000000000000`
)

// orderStmts holds CreateOrder's prepared statements. They are prepared
// on first use rather than in Open, and a failed preparation (a cancelled
// context) is tried again on the next call instead of being remembered.
type orderStmts struct {
	mu                               sync.Mutex
	ready                            bool
	byKey, decrement, insert, totals *sql.Stmt
}

// orderStatements returns the prepared statements, preparing them once.
func (db *DB) orderStatements(ctx context.Context) (*orderStmts, error) {
	s := &db.stmts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return s, nil
	}
	var prepared []*sql.Stmt
	for _, q := range []string{sqlOrderByKey, sqlDecrement, sqlInsert, sqlTotals} {
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			for _, p := range prepared {
				_ = p.Close()
			}
			return nil, fmt.Errorf("prepare: %w", err)
		}
		prepared = append(prepared, st)
	}
	s.byKey, s.decrement, s.insert, s.totals = prepared[0], prepared[1], prepared[2], prepared[3]
	s.ready = true
	return s, nil
}

// CreateOrder implements ordersvc.OrderService. Everything happens in one
// write transaction: the idempotency lookup, the conditional stock
// decrement (which cannot oversell: the UPDATE only matches when enough
// stock is left) and the insert.
func (db *DB) CreateOrder(ctx context.Context, n ordersvc.NewOrder) (ordersvc.Order, bool, error) {
	if err := n.Validate(); err != nil {
		return ordersvc.Order{}, false, err
	}
	fingerprint := n.Fingerprint()
	stmts, err := db.orderStatements(ctx)
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: begin")
	}
	defer func() { _ = tx.Rollback() }()

	if n.IdempotencyKey != "" {
		o, hash, err := db.orderByKey(ctx, tx.StmtContext(ctx, stmts.byKey), n.IdempotencyKey)
		switch {
		case err == nil && bytes.Equal(hash, fingerprint):
			return o, false, nil
		case err == nil:
			return ordersvc.Order{}, false, ordersvc.IdempotencyMismatch()
		case !errors.Is(err, sql.ErrNoRows):
			return ordersvc.Order{}, false, unavailable(err, "create order: idempotency lookup")
		}
	}

	var unitPrice ordersvc.Money
	err = db.timed("update", "products", func() error {
		return tx.StmtContext(ctx, stmts.decrement).QueryRowContext(ctx, n.Quantity, db.now().UnixMicro(), n.ProductID).Scan(&unitPrice)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return ordersvc.Order{}, false, db.whyNoStock(ctx, tx, n)
	}
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: decrement stock")
	}

	amount, err := ordersvc.OrderAmount(unitPrice, n.Quantity)
	if err != nil {
		return ordersvc.Order{}, false, err // the deferred rollback restores the stock
	}
	id, err := newOrderID()
	if err != nil {
		return ordersvc.Order{}, false, fmt.Errorf("create order: %w", err)
	}
	o := ordersvc.Order{
		ID: id, ProductID: n.ProductID, Quantity: n.Quantity, Type: n.Type, CustomerID: n.CustomerID,
		UnitPrice: unitPrice, Amount: amount, Currency: db.currency,
		Status: ordersvc.OrderStatusCreated, CreatedAt: db.now().UTC().Truncate(time.Microsecond),
	}
	var key any
	if n.IdempotencyKey != "" {
		key = n.IdempotencyKey
	}
	err = db.timed("insert", "orders", func() error {
		_, err := tx.StmtContext(ctx, stmts.insert).ExecContext(ctx, o.ID, o.ProductID, o.Quantity, string(o.Type), o.CustomerID, int64(o.UnitPrice), int64(o.Amount), o.Currency, o.Status,
			o.CreatedAt.UnixMicro(), key, fingerprint)
		return err
	})
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: insert")
	}
	// The totals row of the type, updated in the same transaction.
	err = db.timed("upsert", "order_totals", func() error {
		_, err := tx.StmtContext(ctx, stmts.totals).ExecContext(ctx, string(o.Type), int64(o.Amount))
		return err
	})
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: update totals")
	}
	if err := tx.Commit(); err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: commit")
	}
	return o, true, nil
}

// whyNoStock tells an unknown product from one with too little stock.
func (db *DB) whyNoStock(ctx context.Context, tx *sql.Tx, n ordersvc.NewOrder) error {
	var stock int64
	err := db.timed("select", "products", func() error {
		return tx.QueryRowContext(ctx, "SELECT stock FROM products WHERE id = ?", n.ProductID).Scan(&stock)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ordersvc.UnknownProduct(n.ProductID)
	case err != nil:
		return unavailable(err, "create order: read stock")
	default:
		return ordersvc.OutOfStock(n.ProductID, n.Quantity, stock)
	}
}

// orderByKey looks up the order placed with key, with the statement
// sqlOrderByKey bound to the caller's transaction.
func (db *DB) orderByKey(ctx context.Context, byKey *sql.Stmt, key string) (ordersvc.Order, []byte, error) {
	var o ordersvc.Order
	var hash []byte
	err := db.timed("select", "orders", func() error {
		row := byKey.QueryRowContext(ctx, key)
		var err error
		o, err = scanOrder(row, &hash)
		return err
	})
	return o, hash, err
}

// Order implements ordersvc.OrderService.
func (db *DB) Order(ctx context.Context, id string) (ordersvc.Order, error) {
	var o ordersvc.Order
	err := db.timed("select", "orders", func() error {
		var err error
		o, err = scanOrder(db.read.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return ordersvc.Order{}, ordersvc.Errorf(ordersvc.KindNotFound, "order %q does not exist", id)
	}
	if err != nil {
		return ordersvc.Order{}, unavailable(err, "read order")
	}
	return o, nil
}

func scanOrder(row *sql.Row, extra ...any) (ordersvc.Order, error) {
	var o ordersvc.Order
	var typ string
	var created int64
	dest := append([]any{&o.ID, &o.ProductID, &o.Quantity, &typ, &o.CustomerID, &o.UnitPrice, &o.Amount, &o.Currency, &o.Status, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return ordersvc.Order{}, err
	}
	o.Type = ordersvc.OrderType(typ)
	o.CreatedAt = time.UnixMicro(created).UTC()
	return o, nil
}

// Summary implements ordersvc.ReportService.
func (db *DB) Summary(ctx context.Context) (ordersvc.Summary, error) {
	s := ordersvc.Summary{Revenue: map[ordersvc.OrderType]ordersvc.Sum{}, Currency: db.currency,
		LowStockBelow: ordersvc.LowStockThreshold}
	for _, t := range ordersvc.OrderTypes() {
		s.Revenue[t] = ordersvc.Sum{}
	}
	err := db.timed("select", "order_totals", func() error {
		rows, err := db.read.QueryContext(ctx, "SELECT type, orders, revenue_hi, revenue_lo FROM order_totals")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var typ string
			var count int64
			var revenue ordersvc.Sum
			if err := rows.Scan(&typ, &count, &revenue.Hi, &revenue.Lo); err != nil {
				return err
			}
			s.Orders += count
			s.Revenue[ordersvc.OrderType(typ)] = revenue
			s.TotalRevenue = s.TotalRevenue.Plus(revenue)
		}
		return rows.Err()
	})
	if err != nil {
		return ordersvc.Summary{}, unavailable(err, "summarise orders")
	}
	s.LowStock, err = db.queryProducts(ctx, "WHERE stock < ? ORDER BY stock, id LIMIT ?", ordersvc.LowStockThreshold, ordersvc.MaxLowStockListed)
	if err != nil {
		return ordersvc.Summary{}, unavailable(err, "list low-stock products")
	}
	return s, nil
}

// newOrderID returns "ord_" and 24 random hex digits.
func newOrderID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate order id: %w", err)
	}
	return "ord_" + hex.EncodeToString(b[:]), nil
}
