package ordersvc

import (
	"errors"
	"fmt"
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

// Error is the domain error: a kind, a message safe to show to the client,
// optional field errors, and the wrapped cause (never shown to clients).
type Error struct {
	Kind    ErrorKind
	Message string
	Fields  []FieldError
	Err     error
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
