package handlers

import (
	"encoding/json"
	"net/http"

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
	c.JSON(http.StatusCreated, o)
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
	c.JSON(http.StatusOK, o)
}
