package ordersvc

import "testing"

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
