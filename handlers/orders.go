package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/problem"
)

// orderRequest is the body of POST /orders. Fields are raw so that their
// JSON types are checked exactly (a quantity of "2" is refused, not coerced).
type orderRequest struct {
	ProductID  json.RawMessage `json:"product_id"`
	Quantity   json.RawMessage `json:"quantity"`
	Type       json.RawMessage `json:"type"`
	CustomerID json.RawMessage `json:"customer_id"`
}

// DecodeOrder turns a POST /orders body into a NewOrder. It is a pure
// function of the bytes (content type and size are checked before), so it
// can be fuzzed. Field-level problems are 422 with every offending field;
// a body that is not one JSON object of known fields is 400.
func DecodeOrder(body []byte) (ordersvc.NewOrder, *problem.Details) {
	if n, ok := decodeOrderFast(body); ok {
		return n, nil
	}
	return decodeOrderGeneral(body)
}

// decodeOrderGeneral is DecodeOrder for every body: exact keys checked
// token by token, each field's JSON type checked, every problem reported.
func decodeOrderGeneral(body []byte) (ordersvc.NewOrder, *problem.Details) {
	var req orderRequest
	if p := decodeObject(body, &req, false); p != nil {
		return ordersvc.NewOrder{}, p
	}
	var errs []ordersvc.FieldError
	n := ordersvc.NewOrder{
		ProductID:  rawString(req.ProductID, "product_id", &errs),
		Quantity:   rawInt(req.Quantity, "quantity", &errs),
		Type:       ordersvc.OrderType(rawString(req.Type, "type", &errs)),
		CustomerID: rawString(req.CustomerID, "customer_id", &errs),
	}
	// Report every offending field at once: the JSON-type errors, then the
	// domain rules broken by the fields that had the right type.
	if e, ok := ordersvc.AsError(n.Validate()); ok {
		for _, f := range e.Fields {
			if !hasField(errs, f.Field) {
				errs = append(errs, f)
			}
		}
	}
	if len(errs) > 0 {
		p := problem.FromError(ordersvc.InvalidFields(errs...))
		return ordersvc.NewOrder{}, &p
	}
	return n, nil
}

func hasField(errs []ordersvc.FieldError, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (h *api) createOrder(c *gin.Context) {
	body, p := readJSONBody(c, maxOrderBody)
	if p == nil {
		var n ordersvc.NewOrder
		n, p = DecodeOrder(body)
		if p == nil {
			n.IdempotencyKey = c.GetHeader("Idempotency-Key")
			h.placeOrder(c, n)
			return
		}
	}
	h.Metrics.OrderRejected(ordersvc.RejectInvalid)
	abortWith(c, *p)
}

func (h *api) placeOrder(c *gin.Context, n ordersvc.NewOrder) {
	o, created, err := h.Orders.CreateOrder(c.Request.Context(), n)
	if err != nil {
		// The error says why the request was refused; one that is no
		// refusal (a 503, a bug) has no reason and is not counted.
		if reason := ordersvc.ReasonOf(err); reason != "" {
			h.Metrics.OrderRejected(reason)
		}
		h.fail(c, err)
		return
	}
	if created {
		h.Metrics.OrderCreated(o.Type, o.Amount)
	} else {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Header("Location", "/orders/"+o.ID)
	writeOrder(c, http.StatusCreated, o)
}

// jsonContentType is the Content-Type of an order, as gin's c.JSON sets it.
var jsonContentType = []string{"application/json; charset=utf-8"}

// writeOrder answers with o as JSON. The order is written by hand when
// appendOrderJSON can (the usual case), as encoding/json would write it:
// reflection-driven encoding and its buffers were a tenth of the handler's
// own CPU under load.
func writeOrder(c *gin.Context, status int, o ordersvc.Order) {
	var buf [512]byte
	b, ok := appendOrderJSON(buf[:0], o)
	if !ok {
		c.JSON(status, o)
		return
	}
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Writer.WriteHeader(status)
	_, _ = c.Writer.Write(b)
}

// appendOrderJSON appends o as encoding/json encodes it (same fields,
// order, omitempty and formats), or reports false when o holds a string
// that encoding/json would escape, or a time it formats otherwise or
// refuses, which are left to encoding/json (TestOrderJSONMatchesEncodingJSON).
func appendOrderJSON(b []byte, o ordersvc.Order) ([]byte, bool) {
	if y := o.CreatedAt.Year(); y < 0 || y > 9999 || o.CreatedAt.Location() != time.UTC {
		return nil, false
	}
	for _, s := range [...]string{o.ID, o.ProductID, string(o.Type), o.CustomerID, o.Currency, o.Status} {
		if !plainJSONSafe(s) {
			return nil, false
		}
	}
	b = append(b, `{"id":"`...)
	b = append(b, o.ID...)
	b = append(b, `","product_id":"`...)
	b = append(b, o.ProductID...)
	b = append(b, `","quantity":`...)
	b = strconv.AppendInt(b, o.Quantity, 10)
	b = append(b, `,"type":"`...)
	b = append(b, o.Type...)
	b = append(b, '"')
	if o.CustomerID != "" {
		b = append(b, `,"customer_id":"`...)
		b = append(b, o.CustomerID...)
		b = append(b, '"')
	}
	b = append(b, `,"unit_price":`...)
	b = o.UnitPrice.AppendDecimal(b)
	b = append(b, `,"amount":`...)
	b = o.Amount.AppendDecimal(b)
	b = append(b, `,"currency":"`...)
	b = append(b, o.Currency...)
	b = append(b, `","status":"`...)
	b = append(b, o.Status...)
	b = append(b, `","created_at":"`...)
	b = o.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	return b, true
}

// plainJSONSafe reports whether encoding/json writes s as it is between
// quotes: printable ASCII without the quote, the backslash, and the
// characters it escapes for HTML (<, >, &).
func plainJSONSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

func (h *api) getOrder(c *gin.Context) {
	id := c.Param("id")
	if len(id) > ordersvc.MaxOrderIDLen {
		h.fail(c, ordersvc.Errorf(ordersvc.KindNotFound, "order does not exist"))
		return
	}
	o, err := h.Orders.Order(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	writeOrder(c, http.StatusOK, o)
}
