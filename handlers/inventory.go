package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
)

// productRequest is the body of PUT /inventory/:product_id.
type productRequest struct {
	Name      json.RawMessage `json:"name"`
	UnitPrice json.RawMessage `json:"unit_price"`
	Stock     json.RawMessage `json:"stock"`
}

// inventoryPage is the body of GET /inventory.
type inventoryPage struct {
	Products []ordersvc.Product `json:"products"`
	// Next is the ?after= cursor of the following page, absent on the last.
	Next string `json:"next,omitempty"`
}

// listInventory is GET /inventory: one page of the catalog, ordered by id.
// ?limit= is 1..MaxProductPage (default DefaultProductPage) and ?after= a
// product id (the next of the previous page, though any id works: the
// page starts after it). Each is given at most once.
func (h *api) listInventory(c *gin.Context) {
	query := c.Request.URL.Query()
	limit := ordersvc.DefaultProductPage
	var after string
	var errs []ordersvc.FieldError
	if vs, ok := query["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		switch {
		case len(vs) > 1:
			errs = append(errs, ordersvc.FieldError{Field: "limit", Message: "must be given once"})
		case err != nil || n < 1 || n > ordersvc.MaxProductPage:
			errs = append(errs, ordersvc.FieldError{Field: "limit", Message: ordersvc.IntRangeMessage(1, ordersvc.MaxProductPage)})
		default:
			limit = n
		}
	}
	if vs, ok := query["after"]; ok {
		switch {
		case len(vs) > 1:
			errs = append(errs, ordersvc.FieldError{Field: "after", Message: "must be given once"})
		case ordersvc.ValidateID(vs[0]) != "":
			// The same rule as product ids, so a cursor is safe to log and
			// to pass to any store.
			errs = append(errs, ordersvc.FieldError{Field: "after", Message: "must be a product id: " + ordersvc.ValidateID(vs[0])})
		default:
			after = vs[0]
		}
	}
	if len(errs) > 0 {
		h.fail(c, ordersvc.InvalidFields(errs...))
		return
	}
	products, next, err := h.Inventory.ProductPage(c.Request.Context(), after, limit)
	if err != nil {
		h.fail(c, err)
		return
	}
	if products == nil {
		products = []ordersvc.Product{}
	}
	c.JSON(http.StatusOK, inventoryPage{Products: products, Next: next})
}

func (h *api) putProduct(c *gin.Context) {
	body, p := readJSONBody(c, maxAdminBody)
	if p != nil {
		abortWith(c, *p)
		return
	}
	var req productRequest
	if p := decodeObject(body, &req, false); p != nil {
		abortWith(c, *p)
		return
	}
	var errs []ordersvc.FieldError
	prod := ordersvc.Product{
		ID:        c.Param("product_id"),
		Name:      rawString(req.Name, "name", &errs),
		UnitPrice: rawMoney(req.UnitPrice, "unit_price", &errs),
		Stock:     rawInt(req.Stock, "stock", &errs),
	}
	if isNull(req.Stock) {
		errs = append(errs, ordersvc.FieldError{Field: "stock", Message: "is required"})
	}
	if len(errs) > 0 {
		h.fail(c, ordersvc.InvalidFields(errs...))
		return
	}
	created, err := h.Inventory.UpsertProduct(c.Request.Context(), prod)
	if err != nil {
		h.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", "/inventory/"+prod.ID)
	}
	c.JSON(status, prod)
}

func (h *api) summary(c *gin.Context) {
	s, err := h.Reports.Summary(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}
