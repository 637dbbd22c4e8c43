package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/rowscan"
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

// Savepoints around each order of a group (see CreateOrder).
const (
	sqlSavepoint  = "SAVEPOINT order_in_group"
	sqlRelease    = "RELEASE order_in_group"
	sqlRollbackTo = "ROLLBACK TO order_in_group"
)

// maxGroup bounds the orders committed in one transaction, so that one
// group's latency stays bounded however many requests queue.
const maxGroup = 64

// orderWriter is CreateOrder's state: its prepared statements and the
// queue of orders waiting for a transaction.
type orderWriter struct {
	// prepMu guards the statements. They are prepared on first use rather
	// than in Open, and a failed preparation (a cancelled context) is tried
	// again on the next call instead of being remembered.
	prepMu                           sync.Mutex
	ready                            bool
	byKey, decrement, insert, totals *sql.Stmt
	savepoint, release, rollbackTo   *sql.Stmt

	// mu guards the queue. leading is true while a goroutine commits a
	// group; pending holds the orders that arrived meanwhile, in order.
	// Invariant: pending is empty whenever leading is false.
	mu      sync.Mutex
	leading bool
	pending []*orderRequest
}

// orderRequest is one CreateOrder call waiting for, or in, a group.
type orderRequest struct {
	ctx         context.Context
	n           ordersvc.NewOrder
	fingerprint []byte
	// wake is closed once the outcome is set, or when this request must
	// lead the next group (lead is then true).
	wake    chan struct{}
	lead    bool
	order   ordersvc.Order
	created bool
	err     error
}

// statements returns the prepared statements, preparing them once.
func (w *orderWriter) statements(ctx context.Context, db *sql.DB) error {
	w.prepMu.Lock()
	defer w.prepMu.Unlock()
	if w.ready {
		return nil
	}
	queries := []string{sqlOrderByKey, sqlDecrement, sqlInsert, sqlTotals, sqlSavepoint, sqlRelease, sqlRollbackTo}
	prepared := make([]*sql.Stmt, 0, len(queries))
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			for _, p := range prepared {
				_ = p.Close()
			}
			return fmt.Errorf("prepare: %w", err)
		}
		prepared = append(prepared, st)
	}
	w.byKey, w.decrement, w.insert, w.totals = prepared[0], prepared[1], prepared[2], prepared[3]
	w.savepoint, w.release, w.rollbackTo = prepared[4], prepared[5], prepared[6]
	w.ready = true
	return nil
}

// CreateOrder implements ordersvc.OrderService. Each order is one unit of
// work in a write transaction: the idempotency lookup, the conditional
// stock decrement (which cannot oversell: the UPDATE only matches when
// enough stock is left), the insert and the totals.
//
// Group commit. SQLite has one writer, and with WAL the cost of a write
// transaction is mostly its commit (the WAL frames of every page it
// touched; BEGIN and COMMIT themselves): under load that was over a
// quarter of the service's CPU, and the same few pages (the product, the
// totals row, the orders' last leaf) were written again for every order.
// So orders that arrive while a transaction is being committed wait, and
// the next transaction takes them all (up to maxGroup): one BEGIN, one
// SAVEPOINT … RELEASE per order, one COMMIT. Per-order semantics are kept:
//
//   - an order that fails (out of stock, unknown product, amount cap,
//     idempotency mismatch, a storage error on its statements) is rolled
//     back to its savepoint, and the others of the group go on; orders of a
//     group see the earlier ones, exactly as if they ran one by one;
//   - no caller is answered before the COMMIT of its group has returned
//     (durability is the same as for a transaction of its own); if the
//     COMMIT fails, every order of the group fails with KindUnavailable
//     and none is stored.
//
// There is no background goroutine: the caller that finds nobody
// committing leads one group, which includes itself, then hands the lead
// to the first caller still waiting, and returns. Nothing has to be
// stopped on Close, and no caller works for more than one group.
func (db *DB) CreateOrder(ctx context.Context, n ordersvc.NewOrder) (ordersvc.Order, bool, error) {
	if err := n.Validate(); err != nil {
		return ordersvc.Order{}, false, err
	}
	w := &db.orders
	if err := w.statements(ctx, db.write); err != nil {
		if ferr := db.checkFile(); ferr != nil {
			return ordersvc.Order{}, false, ferr // the reason: removed, replaced, read-only
		}
		return ordersvc.Order{}, false, unavailable(db.noteWriteError(err), "create order")
	}
	r := &orderRequest{ctx: ctx, n: n, fingerprint: n.Fingerprint(), wake: make(chan struct{})}
	w.mu.Lock()
	w.pending = append(w.pending, r)
	lead := !w.leading
	w.leading = true
	w.mu.Unlock()
	if !lead {
		// Wait for the outcome, or for the lead. The wait is not cut short
		// by ctx: once queued, the order may be committed by a group, and
		// an error to a caller whose order was stored would be a lie. Its
		// ctx is checked when its turn in a group comes.
		<-r.wake
		lead = r.lead // written before wake was closed
	}
	if lead {
		db.leadGroup()
	}
	return r.order, r.created, r.err
}

// leadGroup takes the pending orders (the leader first among them),
// places them in one transaction, answers them, and passes the lead on.
func (db *DB) leadGroup() {
	w := &db.orders
	w.mu.Lock()
	group := w.pending[:min(len(w.pending), maxGroup)]
	w.pending = append([]*orderRequest(nil), w.pending[len(group):]...)
	w.mu.Unlock()

	answered := false
	defer func() {
		if !answered { // a panic: no caller may wait forever
			for _, r := range group {
				r.order, r.created, r.err = ordersvc.Order{}, false, unavailable(errors.New("the group's transaction panicked"), "create order")
			}
		}
		for _, r := range group[1:] { // group[0] is the leader, this goroutine
			close(r.wake)
		}
		w.mu.Lock()
		if len(w.pending) > 0 {
			next := w.pending[0]
			next.lead = true
			close(next.wake)
		} else {
			w.leading = false
		}
		w.mu.Unlock()
	}()
	db.commitGroup(group)
	answered = true
}

// commitGroup places every order of group in one transaction and sets
// each outcome. The transaction runs on the leader's context without its
// cancellation: the leader's client going away must not fail the others.
func (db *DB) commitGroup(group []*orderRequest) {
	w := &db.orders
	ctx := context.WithoutCancel(group[0].ctx)
	failAll := func(err error) {
		for _, r := range group {
			r.order, r.created, r.err = ordersvc.Order{}, false, err
		}
	}
	// A removed, replaced or read-only file refuses the whole group at
	// once, with the reason, before any statement runs against it.
	if err := db.checkFile(); err != nil {
		if isDetachFault(err) {
			db.detach()
		}
		failAll(err)
		return
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		failAll(unavailable(err, "create order: begin"))
		return
	}
	defer func() { _ = tx.Rollback() }()
	stmts := txStmts{
		byKey: tx.StmtContext(ctx, w.byKey), decrement: tx.StmtContext(ctx, w.decrement),
		insert: tx.StmtContext(ctx, w.insert), totals: tx.StmtContext(ctx, w.totals),
	}
	if len(group) == 1 {
		// Alone, an order needs no savepoint: the transaction is its own,
		// and a failure is undone by not committing it.
		r := group[0]
		if err := r.ctx.Err(); err != nil {
			r.err = unavailable(err, "create order")
			return
		}
		if r.order, r.created, r.err = db.placeOrder(ctx, tx, stmts, r.n, r.fingerprint); r.err != nil {
			return // the deferred rollback undoes what it did
		}
		if err := db.commit(tx); err != nil { // checks the file is still the database
			failAll(unavailable(err, "create order: commit"))
		}
		return
	}
	savepoint, release, rollbackTo := tx.StmtContext(ctx, w.savepoint), tx.StmtContext(ctx, w.release), tx.StmtContext(ctx, w.rollbackTo)
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = unavailable(err, "create order")
			continue
		}
		if _, err := savepoint.ExecContext(ctx); err != nil {
			failAll(unavailable(err, "create order: savepoint"))
			return
		}
		r.order, r.created, r.err = db.placeOrder(ctx, tx, stmts, r.n, r.fingerprint)
		if r.err != nil {
			// Undo this order only; the savepoint is then released (ROLLBACK
			// TO keeps it on the stack).
			if _, err := rollbackTo.ExecContext(ctx); err != nil {
				failAll(unavailable(err, "create order: roll back to savepoint"))
				return
			}
		}
		if _, err := release.ExecContext(ctx); err != nil {
			failAll(unavailable(err, "create order: release savepoint"))
			return
		}
	}
	if err := db.commit(tx); err != nil { // checks the file is still the database
		failAll(unavailable(err, "create order: commit"))
	}
}

// txStmts are CreateOrder's statements bound to one transaction.
type txStmts struct {
	byKey, decrement, insert, totals *sql.Stmt
}

// placeOrder is one order's work inside tx.
func (db *DB) placeOrder(ctx context.Context, tx *sql.Tx, stmts txStmts, n ordersvc.NewOrder, fingerprint []byte) (ordersvc.Order, bool, error) {
	if n.IdempotencyKey != "" {
		o, hash, err := db.orderByKey(ctx, stmts.byKey, n.IdempotencyKey)
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
	err := db.timed(ctx, "update", "products", func() error {
		return stmts.decrement.QueryRowContext(ctx, n.Quantity, db.now().UnixMicro(), n.ProductID).Scan(&unitPrice)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return ordersvc.Order{}, false, db.whyNoStock(ctx, tx, n)
	}
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: decrement stock")
	}

	amount, err := ordersvc.OrderAmount(unitPrice, n.Quantity)
	if err != nil {
		return ordersvc.Order{}, false, err // rolling back to the savepoint restores the stock
	}
	id, err := ordersvc.NewOrderID()
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
	err = db.timed(ctx, "insert", "orders", func() error {
		_, err := stmts.insert.ExecContext(ctx, o.ID, o.ProductID, o.Quantity, string(o.Type), o.CustomerID, int64(o.UnitPrice), int64(o.Amount), o.Currency, o.Status,
			o.CreatedAt.UnixMicro(), key, fingerprint)
		return err
	})
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: insert")
	}
	// The totals row of the type, updated in the same transaction.
	err = db.timed(ctx, "upsert", "order_totals", func() error {
		_, err := stmts.totals.ExecContext(ctx, string(o.Type), int64(o.Amount))
		return err
	})
	if err != nil {
		return ordersvc.Order{}, false, unavailable(err, "create order: update totals")
	}
	return o, true, nil
}

// whyNoStock tells an unknown product from one with too little stock.
func (db *DB) whyNoStock(ctx context.Context, tx *sql.Tx, n ordersvc.NewOrder) error {
	var stock int64
	err := db.timed(ctx, "select", "products", func() error {
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
	err := db.timed(ctx, "select", "orders", func() error {
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
	err := db.timed(ctx, "select", "orders", func() error {
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
	s := ordersvc.EmptySummary(db.currency)
	err := db.timed(ctx, "select", "order_totals", func() error {
		rows, err := db.read.QueryContext(ctx, "SELECT type, orders, revenue_hi, revenue_lo FROM order_totals")
		if err != nil {
			return err
		}
		defer rows.Close()
		return rowscan.Totals(rows, &s)
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
