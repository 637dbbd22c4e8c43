package ordersvc

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Money is an amount in integer minor units (cents for USD). Keeping money
// as integers avoids the rounding drift of binary floating point; only the
// JSON boundary and the revenue metric see decimal currency units.
type Money int64

// MinorUnitsPerUnit is how many minor units make one currency unit. Every
// currency the service shows is treated as having two decimals, as the API
// contract fixes ("more than 2 decimals is refused").
const MinorUnitsPerUnit = 100

// MaxMoney bounds any amount the service accepts or computes, far below the
// int64 range so that price × quantity can never overflow.
const MaxMoney Money = 1_000_000_000_00 // one billion currency units

// Errors returned by ParseMoney.
var (
	ErrMoneySyntax    = errors.New("must be a plain decimal number such as 3.5")
	ErrMoneyPrecision = errors.New("must have at most 2 decimals")
	ErrMoneyRange     = errors.New("must be between 0 and " + MaxMoney.String())
)

// ParseMoney parses a plain decimal string ("3", "3.5", "3.50") into minor
// units exactly, without going through float64. Exponents, signs, and more
// than two decimals are refused.
func ParseMoney(s string) (Money, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return 0, ErrMoneySyntax
	}
	if len(frac) > 2 {
		return 0, ErrMoneyPrecision
	}
	if len(intPart) > 10 {
		return 0, ErrMoneyRange
	}
	units, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, ErrMoneySyntax
	}
	cents := int64(0)
	if frac != "" {
		for len(frac) < 2 {
			frac += "0"
		}
		cents, _ = strconv.ParseInt(frac, 10, 64) // two digits, checked above
	}
	m := Money(units*MinorUnitsPerUnit + cents)
	if m > MaxMoney {
		return 0, ErrMoneyRange
	}
	return m, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Units returns the amount in currency units, for metrics.
func (m Money) Units() float64 { return float64(m) / MinorUnitsPerUnit }

// String formats m as a decimal with trailing zeros dropped: 350 → "3.5".
func (m Money) String() string {
	return string(m.AppendDecimal(nil))
}

// AppendDecimal appends the decimal form of m to b.
func (m Money) AppendDecimal(b []byte) []byte {
	v := int64(m)
	if v < 0 {
		b = append(b, '-')
		if v == math.MinInt64 {
			v = -math.MaxInt64 // unreachable in practice: amounts are bounded by MaxMoney
		} else {
			v = -v
		}
	}
	b = strconv.AppendInt(b, v/MinorUnitsPerUnit, 10)
	cents := v % MinorUnitsPerUnit
	switch {
	case cents == 0:
	case cents%10 == 0:
		b = append(b, '.', byte('0'+cents/10))
	default:
		b = append(b, '.', byte('0'+cents/10), byte('0'+cents%10))
	}
	return b
}

// MarshalJSON writes m as a JSON number in currency units.
func (m Money) MarshalJSON() ([]byte, error) {
	return m.AppendDecimal(nil), nil
}
