package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
)

// productRequest is the body of PUT /inventory/:product_id.
type productRequest struct {
	Name      json.RawMessage `json:"name"`
	UnitPrice json.RawMessage `json:"unit_price"`
	Stock     json.RawMessage `json:"stock"`
}

func (h *api) listInventory(c *gin.Context) {
	products, err := h.Inventory.Products(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	if products == nil {
		products = []ordersvc.Product{}
	}
	c.JSON(http.StatusOK, gin.H{"products": products})
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
