package ordersvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// OrderType is how an order was placed. It is a closed set because it
// becomes a metric label.
type OrderType string

// The order types.
const (
	OrderOnline  OrderType = "online"
	OrderInStore OrderType = "in_store"
	OrderPhone   OrderType = "phone"
)

// OrderTypes returns every valid order type, in a fixed order, for
// validation messages and for pre-initialising metrics. Each call returns a
// fresh slice, so a caller cannot change the set for anyone else.
func OrderTypes() []OrderType {
	return []OrderType{OrderOnline, OrderInStore, OrderPhone}
}

// Valid reports whether t is one of OrderTypes().
func (t OrderType) Valid() bool {
	switch t {
	case OrderOnline, OrderInStore, OrderPhone:
		return true
	}
	return false
}

// joinOrderTypes lists types for a message: "online, in_store, phone".
func joinOrderTypes(types []OrderType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Order limits.
const (
	MinQuantity          = 1
	MaxQuantity          = 1000
	MaxCustomerIDLen     = 64  // characters
	MaxIdempotencyKeyLen = 255 // bytes
	// MaxOrderIDLen bounds an order id looked up by GET /orders/:id; longer
	// ids cannot exist and are not sent to the store.
	MaxOrderIDLen = 64
)

// OrderStatusCreated is the status of a freshly created order.
const OrderStatusCreated = "created"

// Order is a placed order. Prices are copied from the catalog at creation.
type Order struct {
	ID         string    `json:"id"`
	ProductID  string    `json:"product_id"`
	Quantity   int64     `json:"quantity"`
	Type       OrderType `json:"type"`
	CustomerID string    `json:"customer_id,omitempty"`
	UnitPrice  Money     `json:"unit_price"`
	Amount     Money     `json:"amount"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// NewOrder is a request to place an order. The price is never part of it:
// it comes from the catalog.
type NewOrder struct {
	ProductID  string
	Quantity   int64
	Type       OrderType
	CustomerID string
	// IdempotencyKey, when set, makes retries of the same request return
	// the original order instead of placing a new one.
	IdempotencyKey string
}

// Validate checks the request against the order rules.
func (n NewOrder) Validate() error {
	var fields []FieldError
	if msg := ValidateID(n.ProductID); msg != "" {
		fields = append(fields, FieldError{Field: "product_id", Message: msg})
	}
	if n.Quantity < MinQuantity || n.Quantity > MaxQuantity {
		fields = append(fields, FieldError{Field: "quantity", Message: IntRangeMessage(MinQuantity, MaxQuantity)})
	}
	if !n.Type.Valid() {
		fields = append(fields, FieldError{Field: "type", Message: "must be one of " + joinOrderTypes(OrderTypes())})
	}
	if n.CustomerID != "" && (!utf8.ValidString(n.CustomerID) || utf8.RuneCountInString(n.CustomerID) > MaxCustomerIDLen) {
		fields = append(fields, FieldError{Field: "customer_id", Message: MaxCharsMessage(MaxCustomerIDLen)})
	}
	if len(n.IdempotencyKey) > MaxIdempotencyKeyLen {
		fields = append(fields, FieldError{Field: "Idempotency-Key", Message: "header " + MaxCharsMessage(MaxIdempotencyKeyLen)})
	}
	if len(fields) > 0 {
		return InvalidFields(fields...).WithReason(RejectInvalid)
	}
	return nil
}

// Fingerprint is a digest of the request's content (not its key). Two
// requests with the same idempotency key must have the same fingerprint,
// whatever the JSON formatting was.
func (n NewOrder) Fingerprint() []byte {
	h := sha256.New()
	writeField := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	writeField(n.ProductID)
	var q [8]byte
	binary.BigEndian.PutUint64(q[:], uint64(n.Quantity))
	h.Write(q[:])
	writeField(string(n.Type))
	writeField(n.CustomerID)
	return h.Sum(nil)
}

// OrderService places and reads orders.
type OrderService interface {
	// CreateOrder validates n, takes the price from the catalog, decrements
	// stock and stores the order in one transaction. created is false when
	// the idempotency key matched an earlier identical request, whose order
	// is returned. Errors: KindInvalid (bad input, or the key was used with
	// another body: IdempotencyMismatch), KindNotFound (UnknownProduct),
	// KindConflict (OutOfStock), KindUnavailable (storage). Every refusal
	// of the request carries its RejectReason.
	CreateOrder(ctx context.Context, n NewOrder) (o Order, created bool, err error)
	// Order returns one order or a KindNotFound error.
	Order(ctx context.Context, id string) (Order, error)
}

// IdempotencyMismatchMessage is the message of the KindInvalid error
// returned when an idempotency key is reused with another request body.
const IdempotencyMismatchMessage = "Idempotency-Key was already used with a different request body"

// The errors an OrderService refuses a request with, shared by every store
// so that statuses, messages and rejection reasons agree.

// IdempotencyMismatch is the error for an idempotency key reused with
// another request body: KindInvalid, reason RejectInvalid.
func IdempotencyMismatch() *Error {
	return &Error{Kind: KindInvalid, Message: IdempotencyMismatchMessage, Reason: RejectInvalid}
}

// UnknownProduct is the error for an order of a product that does not
// exist: KindNotFound, reason RejectUnknownProduct.
func UnknownProduct(productID string) *Error {
	return Errorf(KindNotFound, "product %q does not exist", productID).WithReason(RejectUnknownProduct)
}

// OutOfStock is the error for an order of more units than are in stock:
// KindConflict, reason RejectOutOfStock.
func OutOfStock(productID string, requested, available int64) *Error {
	return Errorf(KindConflict, "not enough stock for %q: %d requested, %d available", productID, requested, available).
		WithReason(RejectOutOfStock)
}

// Summary is the business report. Revenue is exact for any number of
// orders (see Sum).
type Summary struct {
	Orders        int64             `json:"orders"`
	Revenue       map[OrderType]Sum `json:"revenue"`
	TotalRevenue  Sum               `json:"total_revenue"`
	Currency      string            `json:"currency"`
	LowStock      []Product         `json:"low_stock"`
	LowStockBelow int64             `json:"low_stock_below"`
}

// EmptySummary is the summary of no orders: every order type at zero, in
// currency. The stores add their totals to it.
func EmptySummary(currency string) Summary {
	s := Summary{Revenue: make(map[OrderType]Sum, len(OrderTypes())), Currency: currency, LowStockBelow: LowStockThreshold}
	for _, t := range OrderTypes() {
		s.Revenue[t] = Sum{}
	}
	return s
}

// NewOrderID returns a new order id: "ord_" and 24 random hex digits (96
// bits, so ids never collide in practice, across replicas too).
func NewOrderID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate order id: %w", err)
	}
	return "ord_" + hex.EncodeToString(b[:]), nil
}

// ReportService produces the business summary.
type ReportService interface {
	Summary(ctx context.Context) (Summary, error)
}
