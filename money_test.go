package ordersvc

import (
	"errors"
	"testing"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want Money
		err  error
	}{
		{"3", 300, nil},
		{"3.5", 350, nil},
		{"3.50", 350, nil},
		{"0.01", 1, nil},
		{"1000000000", MaxMoney, nil},
		{"3.555", 0, ErrMoneyPrecision},
		{"3.500", 0, ErrMoneyPrecision},
		{"1e3", 0, ErrMoneySyntax},
		{"-1", 0, ErrMoneySyntax},
		{"+1", 0, ErrMoneySyntax},
		{".5", 0, ErrMoneySyntax},
		{"5.", 0, ErrMoneySyntax},
		{"", 0, ErrMoneySyntax},
		{"1000000000.01", 0, ErrMoneyRange},
		{"99999999999999999999", 0, ErrMoneyRange},
	}
	for _, tt := range tests {
		got, err := ParseMoney(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestMoneyJSON(t *testing.T) {
	for m, want := range map[Money]string{0: "0", 1: "0.01", 10: "0.1", 350: "3.5", 1234: "12.34", 300: "3", -150: "-1.5"} {
		b, _ := m.MarshalJSON()
		if string(b) != want {
			t.Errorf("Money(%d) = %s, want %s", int64(m), b, want)
		}
		if m >= 0 {
			back, err := ParseMoney(want)
			if err != nil || back != m {
				t.Errorf("round trip %s = %d, %v", want, back, err)
			}
		}
	}
}

func TestNewOrderValidate(t *testing.T) {
	ok := NewOrder{ProductID: "sku-1", Quantity: 1, Type: OrderOnline}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := NewOrder{ProductID: "", Quantity: 0, Type: "x", CustomerID: string(make([]byte, 65))}
	e, isErr := AsError(bad.Validate())
	if !isErr || e.Kind != KindInvalid || len(e.Fields) != 4 {
		t.Errorf("Validate = %v, want 4 field errors", bad.Validate())
	}
	a := NewOrder{ProductID: "ab", Quantity: 1, Type: OrderOnline, CustomerID: "c"}
	b := NewOrder{ProductID: "a", Quantity: 1, Type: OrderOnline, CustomerID: "bc"}
	if string(a.Fingerprint()) == string(b.Fingerprint()) {
		t.Error("fingerprints collide across field boundaries")
	}
	c := a
	c.IdempotencyKey = "k"
	if string(a.Fingerprint()) != string(c.Fingerprint()) {
		t.Error("the key must not be part of the fingerprint")
	}
}
