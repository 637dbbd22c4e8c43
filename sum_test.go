package ordersvc

import (
	"encoding/json"
	"math/big"
	"testing"
)

// bigOf is the exact value of s, for checking.
func bigOf(s Sum) *big.Int {
	v := new(big.Int).Mul(big.NewInt(s.Hi), big.NewInt(SumBase))
	return v.Add(v, big.NewInt(s.Lo))
}

func TestSumIsExactBeyondInt64(t *testing.T) {
	var s Sum
	want := new(big.Int)
	// 10^8 orders at the maximum amount overflow int64 (9.2·10^18) ten
	// times over; add them in a few big steps and a loop of small ones.
	step := MaxOrderAmount
	for range 1000 {
		s = s.Add(step)
		want.Add(want, big.NewInt(int64(step)))
	}
	block := s
	for range 100_000 - 1 {
		s = s.Plus(block)
		want.Add(want, new(big.Int).Mul(big.NewInt(int64(step)), big.NewInt(1000)))
	}
	if got := bigOf(s); got.Cmp(want) != 0 || s.Lo < 0 || s.Lo >= SumBase {
		t.Fatalf("sum = %s (hi %d lo %d), want %s", got, s.Hi, s.Lo, want)
	}
	// 10^8 × 10^11 minor units = 10^19 minor = 10^17 currency units.
	if got := s.String(); got != "100000000000000000" {
		t.Errorf("String = %s, want 100000000000000000", got)
	}
	if got := s.Units(); got != 1e17 {
		t.Errorf("Units = %v, want 1e17", got)
	}
}

func TestSumFormatAndParse(t *testing.T) {
	tests := []struct {
		sum  Sum
		want string
	}{
		{Sum{}, "0"},
		{Sum{Lo: 1}, "0.01"},
		{Sum{Lo: 350}, "3.5"},
		{Sum{Lo: 2209880}, "22098.8"},
		{Sum{Hi: 1, Lo: 0}, "10000000000000000"},
		{Sum{Hi: 1, Lo: 5}, "10000000000000000.05"},
		{Sum{Hi: 12, Lo: 345678901234567890}, "123456789012345678.9"},
		{Sum{Hi: 3, Lo: 999999999999999999}, "39999999999999999.99"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.sum)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.sum, b, err, tt.want)
		}
		var back Sum
		if err := json.Unmarshal(b, &back); err != nil || back != tt.sum {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tt.sum)
		}
	}
	for _, bad := range []string{`"1"`, `-1`, `1.234`, `1e3`, `.5`, `null`} {
		var s Sum
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("Unmarshal(%s) accepted: %+v", bad, s)
		}
	}
}

func TestSumUnitsDoesNotDrift(t *testing.T) {
	// 0.1 added 220988 times as a float drifts (22098.799999999985 seen on
	// the old float counter); the exact sum converted once does not.
	var s Sum
	var f float64
	for range 220988 {
		s = s.Add(10)
		f += 0.1
	}
	if s.Units() != 22098.8 {
		t.Errorf("Units = %v, want 22098.8", s.Units())
	}
	if f == 22098.8 {
		t.Log("float addition happened not to drift here; the exact check above still holds")
	}
}

func TestOrderAmount(t *testing.T) {
	tests := []struct {
		price Money
		qty   int64
		want  Money
		ok    bool
	}{
		{250, 2, 500, true},
		{MaxMoney, 1, MaxMoney, true},
		{MaxMoney, 2, 0, false},
		{MaxMoney / 1000, 1000, MaxMoney, true},
		{MaxMoney/1000 + 1, 1000, 0, false},
	}
	for _, tt := range tests {
		got, err := OrderAmount(tt.price, tt.qty)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("OrderAmount(%d, %d) = %d, %v; want %d, ok %v", tt.price, tt.qty, got, err, tt.want, tt.ok)
		}
		if err != nil && (KindOf(err) != KindInvalid || ReasonOf(err) != RejectInvalid) {
			t.Errorf("OrderAmount error kind %v reason %q, want invalid/invalid", KindOf(err), ReasonOf(err))
		}
	}
}
