package ordersvc

import (
	"context"
	"unicode/utf8"
)

// Product limits.
const (
	MaxProductIDLen   = 64
	MaxProductNameLen = 128
	MaxStock          = 1_000_000_000
	// MaxProductPage bounds one page of the catalog listing: whatever the
	// catalog's size (at least 100,000 products must work), a request reads
	// and writes a bounded amount.
	MaxProductPage = 1000
	// DefaultProductPage is the page size of GET /inventory without ?limit=.
	DefaultProductPage = 100
	// LowStockThreshold is the stock level below which a product is reported
	// as low (and InventoryLow fires).
	LowStockThreshold = 10
	// MaxLowStockListed bounds the low-stock list of the summary report,
	// lowest stock first, whatever the catalog's size.
	MaxLowStockListed = 100
)

// Product is a catalog entry with its current stock.
type Product struct {
	ID        string `json:"product_id"`
	Name      string `json:"name"`
	UnitPrice Money  `json:"unit_price"`
	Stock     int64  `json:"stock"`
}

// Validate checks a product against the catalog rules.
func (p Product) Validate() error {
	var fields []FieldError
	if msg := ValidateID(p.ID); msg != "" {
		fields = append(fields, FieldError{Field: "product_id", Message: msg})
	}
	if p.Name == "" || utf8.RuneCountInString(p.Name) > MaxProductNameLen || !utf8.ValidString(p.Name) {
		fields = append(fields, FieldError{Field: "name", Message: lengthRangeMessage(1, MaxProductNameLen)})
	}
	if p.UnitPrice <= 0 || p.UnitPrice > MaxMoney {
		fields = append(fields, FieldError{Field: "unit_price", Message: "must be greater than 0 and at most " + MaxMoney.String()})
	}
	if p.Stock < 0 || p.Stock > MaxStock {
		fields = append(fields, FieldError{Field: "stock", Message: IntRangeMessage(0, MaxStock)})
	}
	if len(fields) > 0 {
		return InvalidFields(fields...)
	}
	return nil
}

// ValidateID checks an identifier (product id, customer id) and returns a
// message describing the problem, or "" when it is fine. Identifiers are
// 1..64 characters of [A-Za-z0-9._-], so they are safe in logs and labels.
func ValidateID(id string) string {
	if id == "" || len(id) > MaxProductIDLen {
		return lengthRangeMessage(1, MaxProductIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "may contain only letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}

// IsSafeToken reports whether s is 1..maxLen characters of
// [A-Za-z0-9._:-]: safe to echo in headers, logs and error reports. Request
// ids and the ids taken from paths into error reports must pass it.
func IsSafeToken(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// InventoryService reads and changes the catalog. The catalog has no
// small fixed size, so nothing reads all of it into memory at once: pages
// are bounded, and whole-catalog readers stream.
type InventoryService interface {
	// ProductPage returns up to limit products whose ids sort after after
	// in byte order ("" starts at the beginning), ordered by id. next is
	// the id to pass as after for the following page, "" when this page is
	// the last. limit is clamped to 1..MaxProductPage. The cursor is a
	// product id, not an offset, so products inserted or deleted between
	// pages never make a walk skip or repeat a product that exists
	// throughout it.
	ProductPage(ctx context.Context, after string, limit int) (products []Product, next string, err error)
	// ProductStocks calls fn with the id and stock of every product, in no
	// particular order, streaming rows instead of loading the catalog into
	// memory; the inventory_level collector reads it at scrape time. fn
	// may keep the id. An error from fn stops the walk and is returned.
	ProductStocks(ctx context.Context, fn func(id string, stock int64) error) error
	// UpsertProduct creates or replaces a product and reports whether it was created.
	UpsertProduct(ctx context.Context, p Product) (created bool, err error)
}

// ClampProductPage returns limit bounded to 1..MaxProductPage: the
// stores' guard, so that no caller can ask for an unbounded page.
func ClampProductPage(limit int) int {
	return min(max(limit, 1), MaxProductPage)
}

// DemoCatalog is seeded into an empty database so the API is usable at once.
func DemoCatalog() []Product {
	return []Product{
		{ID: "sku-1", Name: "Espresso beans 1kg", UnitPrice: 2450, Stock: 500},
		{ID: "sku-2", Name: "Pour-over kettle", UnitPrice: 3999, Stock: 120},
		{ID: "sku-3", Name: "Ceramic mug", UnitPrice: 850, Stock: 1000},
		{ID: "sku-4", Name: "Paper filters (100)", UnitPrice: 350, Stock: 2000},
		{ID: "sku-5", Name: "Hand grinder", UnitPrice: 6500, Stock: 40},
	}
}
