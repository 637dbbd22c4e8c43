package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
)

var (
	_ ordersvc.OrderService  = (*DB)(nil)
	_ ordersvc.ReportService = (*DB)(nil)
)

const orderColumns = "id, product_id, quantity, type, customer_id, unit_price, amount, currency, status, created_at"

// CreateOrder implements ordersvc.OrderService. Everything happens in one
// transaction (READ COMMITTED, where each statement sees every commit made
// before it started):
//
//  1. with an idempotency key, an earlier order with the key is the answer
//     (its replay, or IdempotencyMismatch for another body);
//  2. the conditional stock decrement locks the product row and cannot
//     oversell: it matches only when enough stock is left. When it does not
//     match, the key is looked up again before refusing, because a
//     concurrent duplicate of this request may have taken the stock and
//     committed while this one waited for the row;
//  3. the insert claims the key: INSERT … ON CONFLICT (idempotency_key) DO
//     NOTHING waits for a concurrent transaction holding the key and, once
//     that one commits, inserts nothing; the winner's order is then the
//     answer and this transaction rolls back, returning the stock.
func (db *DB) CreateOrder(ctx context.Context, n ordersvc.NewOrder) (ordersvc.Order, bool, error) {
	if err := n.Validate(); err != nil {
		return ordersvc.Order{}, false, err
	}
	if hasNUL(n.CustomerID) {
		return ordersvc.Order{}, false, ordersvc.InvalidFields(ordersvc.FieldError{Field: "customer_id", Message: "must not contain NUL characters"}).
			WithReason(ordersvc.RejectInvalid)
	}
	fingerprint := n.Fingerprint()
	var (
		order   ordersvc.Order
		created bool
	)
	err := db.inTx(ctx, "create order", func(tx pgx.Tx) error {
		var err error
		order, created, err = db.createOrder(ctx, tx, n, fingerprint)
		return err
	})
	if err != nil {
		return ordersvc.Order{}, false, err
	}
	return order, created, nil
}

// createOrder is one attempt of CreateOrder in tx. It returns errUndo
// with the answer when the transaction must be rolled back: the request
// is the replay of an order committed by another transaction.
func (db *DB) createOrder(ctx context.Context, tx pgx.Tx, n ordersvc.NewOrder, fingerprint []byte) (ordersvc.Order, bool, error) {
	if n.IdempotencyKey != "" {
		if o, found, err := db.replay(ctx, tx, n.IdempotencyKey, fingerprint); found || err != nil {
			return o, false, err
		}
	}
	var unitPrice int64
	now := db.now()
	err := db.timed(ctx, "update", "products", func() error {
		return tx.QueryRow(ctx, "UPDATE products SET stock = stock - $1, updated_at = $2 WHERE id = $3 AND stock >= $1 RETURNING unit_price",
			n.Quantity, now, n.ProductID).Scan(&unitPrice)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		if n.IdempotencyKey != "" {
			if o, found, err := db.replay(ctx, tx, n.IdempotencyKey, fingerprint); found || err != nil {
				return o, false, err
			}
		}
		return ordersvc.Order{}, false, db.whyNoStock(ctx, tx, n)
	}
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: decrement stock")
	}

	amount, err := ordersvc.OrderAmount(ordersvc.Money(unitPrice), n.Quantity)
	if err != nil {
		return ordersvc.Order{}, false, err // the rollback restores the stock
	}
	id, err := ordersvc.NewOrderID()
	if err != nil {
		return ordersvc.Order{}, false, fmt.Errorf("create order: %w", err)
	}
	o := ordersvc.Order{
		ID: id, ProductID: n.ProductID, Quantity: n.Quantity, Type: n.Type, CustomerID: n.CustomerID,
		UnitPrice: ordersvc.Money(unitPrice), Amount: amount, Currency: db.currency,
		Status: ordersvc.OrderStatusCreated, CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
	var key *string
	if n.IdempotencyKey != "" {
		key = &n.IdempotencyKey
	}
	// The insert and the totals go in one round trip (a pipelined batch):
	// one less wait on the network per order, of five. The totals update
	// is only right if the insert inserted; when it did not (a concurrent
	// request with the key won), the transaction is rolled back below
	// whatever happens (errUndo, IdempotencyMismatch or an error), and the
	// totals with it. The batch's time is the insert's; the totals'
	// statement is timed from the insert's answer to its own.
	batch := &pgx.Batch{}
	batch.Queue("INSERT INTO orders ("+orderColumns+", idempotency_key, request_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (idempotency_key) DO NOTHING",
		o.ID, o.ProductID, o.Quantity, string(o.Type), o.CustomerID, int64(o.UnitPrice), int64(o.Amount), o.Currency, o.Status,
		o.CreatedAt, key, fingerprint)
	// SET reads the old revenue_lo in both expressions, so the carry is
	// exact. The totals sit on one of the type's slots.
	batch.Queue(`INSERT INTO order_totals AS t (type, slot, orders, revenue_hi, revenue_lo) VALUES ($1, $2, 1, 0, $3)
			ON CONFLICT (type, slot) DO UPDATE SET orders = t.orders + 1,
				revenue_hi = t.revenue_hi + (t.revenue_lo + $3) / 1000000000000000000,
				revenue_lo = (t.revenue_lo + $3) % 1000000000000000000`,
		string(o.Type), mathrand.IntN(totalsSlots), int64(o.Amount))
	var br pgx.BatchResults
	var inserted bool
	err = db.timed(ctx, "insert", "orders", func() error {
		br = tx.SendBatch(ctx, batch)
		tag, err := br.Exec()
		inserted = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		_ = br.Close()
		return ordersvc.Order{}, false, unavailable(err, "create order: insert")
	}
	err = db.timed(ctx, "upsert", "order_totals", func() error {
		_, err := br.Exec()
		return errors.Join(err, br.Close())
	})
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: update totals")
	}
	if !inserted {
		// A concurrent request with the key committed first: its order is
		// the answer (errUndo rolls back our stock and totals), or
		// IdempotencyMismatch.
		o, found, err := db.replay(ctx, tx, n.IdempotencyKey, fingerprint)
		if !found && err == nil {
			err = unavailable(errors.New("the idempotency key is taken but its order is not visible"), "create order")
		}
		return o, false, err
	}
	return o, true, nil
}

// totalsSlots is how many rows each order type's totals are spread over.
const totalsSlots = 16

// replay looks up the order placed with key. found reports whether there
// is one; err is IdempotencyMismatch when it was placed by another body,
// or errUndo when it is this request's replay (nothing of the transaction
// is kept).
func (db *DB) replay(ctx context.Context, tx pgx.Tx, key string, fingerprint []byte) (o ordersvc.Order, found bool, err error) {
	var hash []byte
	err = db.timed(ctx, "select", "orders", func() error {
		var err error
		o, err = scanOrder(tx.QueryRow(ctx, "SELECT "+orderColumns+", request_hash FROM orders WHERE idempotency_key = $1", key), &hash)
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ordersvc.Order{}, false, nil
	case err != nil:
		return ordersvc.Order{}, false, unavailable(err, "create order: idempotency lookup")
	case !bytes.Equal(hash, fingerprint):
		return ordersvc.Order{}, true, ordersvc.IdempotencyMismatch()
	default:
		return o, true, errUndo
	}
}

// whyNoStock tells an unknown product from one with too little stock.
func (db *DB) whyNoStock(ctx context.Context, tx pgx.Tx, n ordersvc.NewOrder) error {
	var stock int64
	err := db.timed(ctx, "select", "products", func() error {
		return tx.QueryRow(ctx, "SELECT stock FROM products WHERE id = $1", n.ProductID).Scan(&stock)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ordersvc.UnknownProduct(n.ProductID)
	case err != nil:
		return unavailable(err, "create order: read stock")
	default:
		return ordersvc.OutOfStock(n.ProductID, n.Quantity, stock)
	}
}

// Order implements ordersvc.OrderService.
func (db *DB) Order(ctx context.Context, id string) (ordersvc.Order, error) {
	var o ordersvc.Order
	err := db.timed(ctx, "select", "orders", func() error {
		var err error
		o, err = scanOrder(db.pool.QueryRow(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = $1", id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return ordersvc.Order{}, ordersvc.Errorf(ordersvc.KindNotFound, "order %q does not exist", id)
	}
	if err != nil {
		return ordersvc.Order{}, unavailable(err, "read order")
	}
	return o, nil
}

func scanOrder(row pgx.Row, extra ...any) (ordersvc.Order, error) {
	var o ordersvc.Order
	var typ string
	var unitPrice, amount int64
	dest := append([]any{&o.ID, &o.ProductID, &o.Quantity, &typ, &o.CustomerID, &unitPrice, &amount, &o.Currency, &o.Status, &o.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return ordersvc.Order{}, err
	}
	o.Type = ordersvc.OrderType(typ)
	o.UnitPrice, o.Amount = ordersvc.Money(unitPrice), ordersvc.Money(amount)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

// Summary implements ordersvc.ReportService: it adds up the totals' slots
// (at most totalsSlots rows a type), carrying the low limbs in exact
// numerics, whatever the number of orders.
func (db *DB) Summary(ctx context.Context) (ordersvc.Summary, error) {
	s := ordersvc.EmptySummary(db.currency)
	err := db.timed(ctx, "select", "order_totals", func() error {
		rows, err := db.pool.Query(ctx, `SELECT type, sum(orders)::bigint,
			(sum(revenue_hi) + div(sum(revenue_lo), 1000000000000000000))::bigint,
			mod(sum(revenue_lo), 1000000000000000000)::bigint
			FROM order_totals GROUP BY type`)
		if err != nil {
			return err
		}
		defer rows.Close()
		return rowscan.Totals(rows, &s)
	})
	if err != nil {
		return ordersvc.Summary{}, unavailable(err, "summarise orders")
	}
	s.LowStock, err = db.queryProducts(ctx, "WHERE stock < $1 ORDER BY stock, id LIMIT $2", ordersvc.LowStockThreshold, ordersvc.MaxLowStockListed)
	if err != nil {
		return ordersvc.Summary{}, unavailable(err, "list low-stock products")
	}
	return s, nil
}
