package ordersvc

import (
	"fmt"
	"strconv"
)

// MaxOrderAmount caps one order's amount (unit price × quantity): an order
// above it is refused with a 422, so no single order can be absurd, and
// every amount fits a Money with room to spare.
const MaxOrderAmount = MaxMoney

// OrderAmount returns unitPrice × quantity, or a KindInvalid error (reason
// invalid) when it exceeds MaxOrderAmount. Both factors are bounded
// (MaxMoney, MaxQuantity), so the product cannot overflow int64.
func OrderAmount(unitPrice Money, quantity int64) (Money, error) {
	amount := unitPrice * Money(quantity)
	if unitPrice < 0 || quantity < 0 || amount > MaxOrderAmount || (quantity != 0 && amount/Money(quantity) != unitPrice) {
		return 0, (&Error{
			Kind:    KindInvalid,
			Message: fmt.Sprintf("the order's amount would exceed %s", MaxOrderAmount),
			Fields:  []FieldError{{Field: "quantity", Message: "makes the amount exceed " + MaxOrderAmount.String()}},
		}).WithReason(RejectInvalid)
	}
	return amount, nil
}

// SumBase is the radix of a Sum's two limbs: 10^18 minor units.
const SumBase = 1_000_000_000_000_000_000

// Sum is an exact, non-negative total of amounts in minor units, Hi·SumBase
// + Lo with 0 ≤ Lo < SumBase: revenue over any number of orders a store can
// hold, where an int64 would overflow after about 9.2·10^7 orders at
// MaxOrderAmount. The zero value is 0.
type Sum struct {
	Hi, Lo int64
}

// SumOf returns the Sum of one non-negative amount.
func SumOf(m Money) Sum { return Sum{}.Add(m) }

// Add returns s + m for a non-negative m.
func (s Sum) Add(m Money) Sum {
	lo := s.Lo + int64(m) // < SumBase + MaxMoney: no overflow
	return Sum{Hi: s.Hi + lo/SumBase, Lo: lo % SumBase}
}

// Plus returns s + o.
func (s Sum) Plus(o Sum) Sum {
	lo := s.Lo + o.Lo // < 2·SumBase: no overflow
	return Sum{Hi: s.Hi + o.Hi + lo/SumBase, Lo: lo % SumBase}
}

// IsZero reports whether s is 0.
func (s Sum) IsZero() bool { return s.Hi == 0 && s.Lo == 0 }

// Units returns s in currency units, rounded once to the nearest float64:
// for the revenue metric, whose float must not drift from the exact sum.
func (s Sum) Units() float64 {
	if s.Hi == 0 {
		return float64(s.Lo) / MinorUnitsPerUnit
	}
	v, _ := strconv.ParseFloat(s.String(), 64) // the exact decimal, rounded once
	return v
}

// String formats s in currency units with trailing zeros dropped, like
// Money: 12345 → "123.45".
func (s Sum) String() string { return string(s.AppendDecimal(nil)) }

// AppendDecimal appends the decimal form of s to b.
func (s Sum) AppendDecimal(b []byte) []byte {
	if s.Hi == 0 {
		return Money(s.Lo).AppendDecimal(b)
	}
	// Hi·10^18 + Lo: Hi's digits, then Lo's 18 digits zero-padded. The
	// last two digits are the minor units.
	var digits []byte
	digits = strconv.AppendInt(digits, s.Hi, 10)
	lo := strconv.AppendInt(nil, s.Lo, 10)
	for range 18 - len(lo) {
		digits = append(digits, '0')
	}
	digits = append(digits, lo...)
	units, cents := digits[:len(digits)-2], digits[len(digits)-2:]
	b = append(b, units...)
	switch {
	case cents[0] == '0' && cents[1] == '0':
	case cents[1] == '0':
		b = append(b, '.', cents[0])
	default:
		b = append(b, '.', cents[0], cents[1])
	}
	return b
}

// MarshalJSON writes s as a JSON number in currency units, exactly.
func (s Sum) MarshalJSON() ([]byte, error) { return s.AppendDecimal(nil), nil }

// UnmarshalJSON reads a JSON number in currency units (at most two
// decimals), exactly.
func (s *Sum) UnmarshalJSON(b []byte) error {
	str := string(b)
	intPart, frac := str, ""
	for i := range len(str) {
		if str[i] == '.' {
			intPart, frac = str[:i], str[i+1:]
			break
		}
	}
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) || len(frac) > 2 {
		return fmt.Errorf("sum %q: %w", str, ErrMoneySyntax)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	digits := intPart + frac
	var out Sum
	if n := len(digits); n > 18 {
		hi, err := strconv.ParseInt(digits[:n-18], 10, 64)
		if err != nil {
			return fmt.Errorf("sum %q: %w", str, err)
		}
		out.Hi, digits = hi, digits[n-18:]
	}
	lo, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return fmt.Errorf("sum %q: %w", str, err)
	}
	out.Lo = lo
	*s = out
	return nil
}
