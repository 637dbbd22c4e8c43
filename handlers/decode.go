package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/httpx"
	"github.com/ordersvc/ordersvc/problem"
)

// Body limits.
const (
	maxOrderBody   = 64 << 10 // 64 KiB
	maxAdminBody   = 64 << 10
	maxWebhookBody = 1 << 20 // 1 MiB
)

// maxEchoedFieldLen bounds how much of an unknown field's name a 400
// echoes back, in bytes.
const maxEchoedFieldLen = 64

// readJSONBody checks the content type and reads at most limit bytes. The
// declared length is checked first, so an oversized upload is refused
// without being read.
func readJSONBody(c *gin.Context, limit int64) ([]byte, *problem.Details) {
	if !isJSONContentType(c.GetHeader("Content-Type")) {
		p := problem.New(http.StatusUnsupportedMediaType, problem.SlugUnsupportedMediaType, "Content-Type must be application/json")
		return nil, &p
	}
	return readBodyLimited(c, limit)
}

// readBodyLimited reads at most limit bytes of the body, refusing a larger
// declared length before reading anything.
func readBodyLimited(c *gin.Context, limit int64) ([]byte, *problem.Details) {
	if c.Request.ContentLength > limit {
		p := tooLarge(limit)
		return nil, &p
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			p := tooLarge(limit)
			return nil, &p
		}
		p := problem.New(http.StatusBadRequest, problem.SlugUnreadableBody, "the request body could not be read")
		return nil, &p
	}
	return body, nil
}

func tooLarge(limit int64) problem.Details {
	return problem.New(http.StatusRequestEntityTooLarge, problem.SlugBodyTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
}

// isJSONContentType accepts application/json and any application/*+json.
func isJSONContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// decodeObject decodes body, which must hold exactly one JSON object, into
// dst. Syntax errors, non-objects, trailing data and (unless allowUnknown)
// unknown fields are 400; a value of the wrong JSON type is a 422 naming
// the field.
func decodeObject(body []byte, dst any, allowUnknown bool) *problem.Details {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		p := badRequest("the request body is empty; a JSON object is required")
		return &p
	}
	if trimmed[0] != '{' {
		p := badRequest("the request body must be a JSON object")
		return &p
	}
	shape := shapeOf(reflect.TypeOf(dst))
	kc, err := checkKeys(trimmed, shape, !allowUnknown)
	if err != nil {
		p := badRequest(jsonErrorDetail(err))
		return &p
	}
	if kc.caseVariants {
		if trimmed, err = withoutCaseVariants(trimmed, shape); err != nil {
			p := badRequest(jsonErrorDetail(err))
			return &p
		}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if !allowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			p := problem.FromError(ordersvc.InvalidFields(ordersvc.FieldError{
				Field: typeErr.Field, Message: "must be a JSON " + jsonTypeName(typeErr.Type.Kind().String()),
			}))
			return &p
		}
		p := badRequest(jsonErrorDetail(err))
		return &p
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		p := badRequest("the request body has data after the JSON object")
		return &p
	}
	return nil
}

func badRequest(detail string) problem.Details {
	return problem.New(http.StatusBadRequest, problem.SlugMalformedRequest, detail)
}

// jsonErrorDetail describes a decoding error without echoing more than a
// short, quoted piece of the client's input.
func jsonErrorDetail(err error) string {
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case errors.As(err, new(*errUnknownField)):
		var u *errUnknownField
		errors.As(err, &u)
		return "unknown field " + quoteField(u.name)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if uq, uerr := strconv.Unquote(name); uerr == nil {
			name = uq
		}
		return "unknown field " + quoteField(name)
	default:
		return "malformed JSON"
	}
}

// quoteField quotes a client-chosen field name for a message, at most
// maxEchoedFieldLen bytes of it.
func quoteField(name string) string {
	return strconv.Quote(httpx.Clip(name, maxEchoedFieldLen))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	default:
		return "number"
	}
}

// Field readers for json.RawMessage fields, so that "2" (a string) is not
// silently taken as the number 2. Each returns ok=false with a field error
// appended when the value has the wrong shape; absent and null values
// yield the zero value.

func rawString(raw json.RawMessage, field string, errs *[]ordersvc.FieldError) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		*errs = append(*errs, ordersvc.FieldError{Field: field, Message: "must be a string"})
		return ""
	}
	return s
}

func rawInt(raw json.RawMessage, field string, errs *[]ordersvc.FieldError) int64 {
	if isNull(raw) {
		return 0
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		*errs = append(*errs, ordersvc.FieldError{Field: field, Message: "must be an integer"})
		return 0
	}
	return n
}

func rawMoney(raw json.RawMessage, field string, errs *[]ordersvc.FieldError) ordersvc.Money {
	if isNull(raw) {
		return 0
	}
	if raw[0] == '"' {
		*errs = append(*errs, ordersvc.FieldError{Field: field, Message: "must be a JSON number"})
		return 0
	}
	m, err := ordersvc.ParseMoney(string(raw))
	if err != nil {
		*errs = append(*errs, ordersvc.FieldError{Field: field, Message: err.Error()})
		return 0
	}
	return m
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// The fast path of DecodeOrder. Every POST /orders body used to be walked
// token by token (checkKeys, for exact field names), then decoded into raw
// fields, then each field unmarshalled again: three passes and some forty
// allocations for a 70-byte body. decodeOrderFast reads the common shape
// in one pass with no allocation but the strings it returns: one flat
// object whose keys are exactly the four field names, each at most once,
// string values of printable ASCII without escapes, a quantity of plain
// digits, JSON whitespace anywhere whitespace may go. Anything else, and
// any body whose order breaks a rule, is left to the general path
// (ok=false), which then gives the exact answer, error messages included.
// So the fast path only ever accepts what the general path accepts, with
// the same result (FuzzDecodeOrderFastPath checks this).

// Order body fields, as bits, to spot a repeated key.
const (
	fieldProductID = 1 << iota
	fieldQuantity
	fieldType
	fieldCustomerID
)

// maxFastQuantityDigits bounds the quantity the fast path parses: enough
// for any valid quantity, far from overflowing.
const maxFastQuantityDigits = 7

func decodeOrderFast(body []byte) (n ordersvc.NewOrder, ok bool) {
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return n, false
	}
	i++
	var seen int
	for {
		i = skipJSONSpace(body, i)
		key, next, ok := plainJSONString(body, i)
		if !ok {
			return n, false
		}
		i = skipJSONSpace(body, next)
		if i >= len(body) || body[i] != ':' {
			return n, false
		}
		i = skipJSONSpace(body, i+1)
		var field int
		switch string(key) { // compiled to comparisons, no allocation
		case "product_id":
			field = fieldProductID
		case "quantity":
			field = fieldQuantity
		case "type":
			field = fieldType
		case "customer_id":
			field = fieldCustomerID
		default:
			return n, false
		}
		if seen&field != 0 {
			return n, false // a repeated key: encoding/json's last-wins is the general path's business
		}
		seen |= field
		if field == fieldQuantity {
			q, next, ok := plainJSONInt(body, i)
			if !ok {
				return n, false
			}
			n.Quantity, i = q, next
		} else {
			v, next, ok := plainJSONString(body, i)
			if !ok {
				return n, false
			}
			i = next
			switch field {
			case fieldProductID:
				n.ProductID = string(v)
			case fieldType:
				n.Type = orderTypeOf(v)
			case fieldCustomerID:
				n.CustomerID = string(v)
			}
		}
		i = skipJSONSpace(body, i)
		if i >= len(body) {
			return n, false
		}
		if body[i] == '}' {
			break
		}
		if body[i] != ',' {
			return n, false
		}
		i++
	}
	if skipJSONSpace(body, i+1) != len(body) {
		return n, false // trailing data
	}
	if n.Validate() != nil {
		return ordersvc.NewOrder{}, false
	}
	return n, true
}

// orderTypeOf returns the order type named by b without allocating for
// the valid ones.
func orderTypeOf(b []byte) ordersvc.OrderType {
	for _, t := range ordersvc.OrderTypes() {
		if string(b) == string(t) {
			return t
		}
	}
	return ordersvc.OrderType(b)
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace (space, tab, newline, carriage return).
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainJSONString reads a JSON string at b[i] whose content is printable
// ASCII without escapes, so that its bytes are its value, and returns the
// content and the index after the closing quote. ok is false for anything
// else, including escapes and non-ASCII (the general path decodes those).
func plainJSONString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainJSONInt reads a positive JSON integer without sign, fraction,
// exponent or leading zero, of at most maxFastQuantityDigits digits, and
// returns it and the index after it.
func plainJSONInt(b []byte, i int) (v int64, next int, ok bool) {
	j := i
	for j < len(b) && j-i <= maxFastQuantityDigits && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + int64(b[j]-'0')
		j++
	}
	if j == i || j-i > maxFastQuantityDigits || b[i] == '0' {
		return 0, 0, false
	}
	// The number must end here: "12.5", "1e3" are the general path's.
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, 0, false
	}
	return v, j, true
}
