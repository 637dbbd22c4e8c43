package ordersvc

import (
	"errors"
	"fmt"
	"testing"
)

func TestReasonOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind ErrorKind
		want RejectReason
	}{
		{"nil", nil, KindInternal, ""},
		{"plain error", errors.New("boom"), KindInternal, ""},
		{"kind without reason", Errorf(KindConflict, "clash"), KindConflict, ""},
		{"out of stock", OutOfStock("sku-1", 3, 1), KindConflict, RejectOutOfStock},
		{"unknown product", UnknownProduct("sku-9"), KindNotFound, RejectUnknownProduct},
		{"idempotency mismatch", IdempotencyMismatch(), KindInvalid, RejectInvalid},
		{"wrapped", fmt.Errorf("create order: %w", OutOfStock("sku-1", 3, 1)), KindConflict, RejectOutOfStock},
		{"invalid order", NewOrder{}.Validate(), KindInvalid, RejectInvalid},
		{"invalid fields alone", InvalidFields(FieldError{Field: "x", Message: "bad"}), KindInvalid, ""},
		{"unavailable", WrapError(KindUnavailable, errors.New("disk"), "the database is unavailable"), KindUnavailable, ""},
	}
	for _, tt := range tests {
		if got := ReasonOf(tt.err); got != tt.want {
			t.Errorf("%s: ReasonOf = %q, want %q", tt.name, got, tt.want)
		}
		if got := KindOf(tt.err); got != tt.kind {
			t.Errorf("%s: KindOf = %v, want %v", tt.name, got, tt.kind)
		}
	}
}

func TestWithReasonCopies(t *testing.T) {
	base := Errorf(KindConflict, "clash")
	withReason := base.WithReason(RejectOutOfStock)
	if base.Reason != "" {
		t.Errorf("WithReason changed the original: %q", base.Reason)
	}
	if withReason.Reason != RejectOutOfStock || withReason.Kind != KindConflict || withReason.Message != "clash" {
		t.Errorf("WithReason = %+v", withReason)
	}
}

func TestRejectReasons(t *testing.T) {
	got := RejectReasons()
	want := []RejectReason{RejectOutOfStock, RejectUnknownProduct, RejectInvalid}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("RejectReasons() = %v, want %v", got, want)
	}
	for _, r := range got {
		if !r.Valid() {
			t.Errorf("%q is listed but not Valid", r)
		}
	}
	for _, r := range []RejectReason{"", "conflict", "OUT_OF_STOCK"} {
		if r.Valid() {
			t.Errorf("%q is Valid", r)
		}
	}
	got[0] = "tampered"
	if RejectReasons()[0] != RejectOutOfStock {
		t.Error("a caller changed RejectReasons() for everyone")
	}
}
