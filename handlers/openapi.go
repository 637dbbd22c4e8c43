package handlers

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	apidoc "github.com/ordersvc/ordersvc/api"
)

// yamlContentType is the media type of GET /openapi.yaml (RFC 9512).
const yamlContentType = "application/yaml"

// openAPIYAML serves the embedded API description as written.
func openAPIYAML(c *gin.Context) {
	c.Data(http.StatusOK, yamlContentType, apidoc.YAML())
}

// openAPIJSON returns the handler of GET /openapi.json. The JSON is
// converted from the embedded YAML once, when the router is built, not on
// every request; a conversion failure (the api tests rule it out) makes
// the route answer 500 rather than the router fail to start.
func (h *api) openAPIJSON() gin.HandlerFunc {
	doc, err := apidoc.JSON()
	return func(c *gin.Context) {
		if err != nil {
			h.fail(c, fmt.Errorf("serve the OpenAPI document: %w", err))
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
	}
}
