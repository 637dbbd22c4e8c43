package ordersvc

import (
	"strings"
	"testing"
)

func TestOrderTypesIsACopy(t *testing.T) {
	got := OrderTypes()
	if len(got) != 3 {
		t.Fatalf("OrderTypes() = %v, want 3 types", got)
	}
	got[0] = "tampered"
	if again := OrderTypes(); again[0] != OrderOnline {
		t.Errorf("OrderTypes() after a caller changed its copy = %v", again)
	}
}

func TestOrderTypeValid(t *testing.T) {
	for _, typ := range OrderTypes() {
		if !typ.Valid() {
			t.Errorf("%q is listed by OrderTypes() but not Valid", typ)
		}
	}
	for _, typ := range []OrderType{"", "ONLINE", "mail", "in-store"} {
		if typ.Valid() {
			t.Errorf("%q is Valid", typ)
		}
	}
}

// fieldMessages returns field → message of a validation error.
func fieldMessages(t *testing.T, err error) map[string]string {
	t.Helper()
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("not a domain error: %v", err)
	}
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Message
	}
	return got
}

// TestValidationMessages pins the messages built from the named limits:
// the API's wording must not change when the code that builds it does.
func TestValidationMessages(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		err   error
		field string
		want  string
	}{
		{"quantity too small", NewOrder{ProductID: "sku-1", Quantity: 0, Type: OrderOnline}.Validate(), "quantity", "must be an integer from 1 to 1000"},
		{"quantity too big", NewOrder{ProductID: "sku-1", Quantity: MaxQuantity + 1, Type: OrderOnline}.Validate(), "quantity", "must be an integer from 1 to 1000"},
		{"type", NewOrder{ProductID: "sku-1", Quantity: 1, Type: "drone"}.Validate(), "type", "must be one of online, in_store, phone"},
		{"customer id", NewOrder{ProductID: "sku-1", Quantity: 1, Type: OrderOnline, CustomerID: long(MaxCustomerIDLen + 1)}.Validate(), "customer_id", "must be at most 64 characters"},
		{"idempotency key", NewOrder{ProductID: "sku-1", Quantity: 1, Type: OrderOnline, IdempotencyKey: long(MaxIdempotencyKeyLen + 1)}.Validate(), "Idempotency-Key", "header must be at most 255 characters"},
		{"product id empty", NewOrder{Quantity: 1, Type: OrderOnline}.Validate(), "product_id", "must be 1 to 64 characters"},
		{"product id too long", Product{ID: long(MaxProductIDLen + 1), Name: "n", UnitPrice: 1}.Validate(), "product_id", "must be 1 to 64 characters"},
		{"product name", Product{ID: "sku-1", Name: long(MaxProductNameLen + 1), UnitPrice: 1}.Validate(), "name", "must be 1 to 128 characters"},
		{"unit price", Product{ID: "sku-1", Name: "n", UnitPrice: MaxMoney + 1}.Validate(), "unit_price", "must be greater than 0 and at most 1000000000"},
		{"stock", Product{ID: "sku-1", Name: "n", UnitPrice: 1, Stock: MaxStock + 1}.Validate(), "stock", "must be an integer from 0 to 1000000000"},
	}
	for _, tt := range tests {
		if got := fieldMessages(t, tt.err)[tt.field]; got != tt.want {
			t.Errorf("%s: %s message = %q, want %q", tt.name, tt.field, got, tt.want)
		}
	}
}

func TestLimitsAtTheBoundaryAreValid(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"order at the limits", NewOrder{ProductID: strings.Repeat("p", MaxProductIDLen), Quantity: MaxQuantity, Type: OrderPhone,
			CustomerID: strings.Repeat("c", MaxCustomerIDLen), IdempotencyKey: strings.Repeat("k", MaxIdempotencyKeyLen)}.Validate()},
		{"smallest order", NewOrder{ProductID: "p", Quantity: MinQuantity, Type: OrderInStore}.Validate()},
		{"product at the limits", Product{ID: "sku-1", Name: strings.Repeat("n", MaxProductNameLen), UnitPrice: MaxMoney, Stock: MaxStock}.Validate()},
	}
	for _, tt := range tests {
		if tt.err != nil {
			t.Errorf("%s: %v", tt.name, tt.err)
		}
	}
}

func TestMessageHelpers(t *testing.T) {
	tests := []struct{ got, want string }{
		{IntRangeMessage(1, 500), "must be an integer from 1 to 500"},
		{IntRangeMessage(0, MaxStock), "must be an integer from 0 to 1000000000"},
		{MaxCharsMessage(7), "must be at most 7 characters"},
		{lengthRangeMessage(2, 9), "must be 2 to 9 characters"},
		{ErrMoneyRange.Error(), "must be between 0 and 1000000000"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
