package ordersvc

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrorKind classifies an error so that every layer can react to it without
// knowing where it came from. Handlers map kinds to HTTP statuses.
type ErrorKind int

// The error kinds. The zero value, KindInternal, is what an unclassified error is.
const (
	KindInternal    ErrorKind = iota // a bug or an unexpected failure: 500
	KindInvalid                      // the input breaks a domain rule: 422
	KindNotFound                     // the thing named does not exist: 404
	KindConflict                     // the request clashes with current state: 409
	KindUnavailable                  // a dependency is down; retrying may help: 503
)

// String returns the kind's name, used in logs.
func (k ErrorKind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// FieldError names one offending input field and why it was refused.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// RejectReason says why an order request was refused. It is a closed set
// because it becomes the reason label of orders_rejected_total; the error
// that refuses the request carries it, so that nobody guesses it from the
// error kind.
type RejectReason string

// The rejection reasons. The zero value, "", means "not a rejection": a
// storage failure or a bug is not the request's fault and is not counted.
const (
	RejectOutOfStock     RejectReason = "out_of_stock"    // not enough stock for the quantity
	RejectUnknownProduct RejectReason = "unknown_product" // the product does not exist
	RejectInvalid        RejectReason = "invalid"         // the request breaks a rule of the API
)

// RejectReasons returns every rejection reason, in a fixed order, for
// pre-initialising metrics. Each call returns a fresh slice.
func RejectReasons() []RejectReason {
	return []RejectReason{RejectOutOfStock, RejectUnknownProduct, RejectInvalid}
}

// Valid reports whether r is one of RejectReasons().
func (r RejectReason) Valid() bool {
	switch r {
	case RejectOutOfStock, RejectUnknownProduct, RejectInvalid:
		return true
	}
	return false
}

// IntRangeMessage is the field message for an integer outside min..max:
// "must be an integer from 1 to 1000". Validation and its messages both use
// the named limits, so they cannot drift apart.
func IntRangeMessage(min, max int64) string {
	return "must be an integer from " + strconv.FormatInt(min, 10) + " to " + strconv.FormatInt(max, 10)
}

// MaxCharsMessage is the field message for a text longer than max
// characters: "must be at most 64 characters".
func MaxCharsMessage(max int) string {
	return "must be at most " + strconv.Itoa(max) + " characters"
}

// lengthRangeMessage is the field message for a text outside min..max
// characters: "must be 1 to 128 characters".
func lengthRangeMessage(min, max int) string {
	return "must be " + strconv.Itoa(min) + " to " + strconv.Itoa(max) + " characters"
}

// Error is the domain error: a kind, a message safe to show to the client,
// optional field errors, the reason when it refuses an order request, and
// the wrapped cause (never shown to clients).
type Error struct {
	Kind    ErrorKind
	Message string
	Fields  []FieldError
	// Reason is why the error refuses an order request; "" when it is not
	// such a refusal.
	Reason RejectReason
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error of the given kind that wraps cause.
func WrapError(kind ErrorKind, cause error, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: cause}
}

// WithReason returns a copy of e that carries the rejection reason r; e
// itself is not changed.
func (e *Error) WithReason(r RejectReason) *Error {
	c := *e
	c.Reason = r
	return &c
}

// InvalidFields returns a KindInvalid error listing the offending fields.
func InvalidFields(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Message: "request has invalid fields", Fields: fields}
}

// KindOf reports the kind of err: the kind of the first *Error in its chain,
// or KindInternal.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// AsError returns the first *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ReasonOf reports why err refuses an order request: the reason of the
// first *Error in its chain, or "" when err is not a rejection (nil, a
// storage failure, an unclassified error).
func ReasonOf(err error) RejectReason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
