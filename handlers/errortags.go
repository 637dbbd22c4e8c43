package handlers

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// TagOrderID is the error-report tag naming the order a failed request was
// about.
const TagOrderID = "order_id"

// orderIDKey is the gin key SetOrderID stores under.
const orderIDKey = "handlers.order_id"

// SetOrderID tells error reporting which order a request is about, for the
// order_id tag. Call it only when it matters (on the error path): it
// allocates the context's key map. Requests on /orders/:id are tagged with
// their id without it.
func SetOrderID(c *gin.Context, id string) { c.Set(orderIDKey, id) }

// ErrorTags is the error tracker's request-tag hook (errortracking.TagFunc):
// it names the order a failed request was about. Error tracking drops a
// value that is not a safe token, so a client's junk path never becomes a
// tag.
func ErrorTags(c *gin.Context, set func(key, value string)) {
	if v, ok := c.Get(orderIDKey); ok {
		if id, ok := v.(string); ok {
			set(TagOrderID, id)
			return
		}
	}
	if strings.HasPrefix(c.FullPath(), "/orders/") {
		set(TagOrderID, c.Param("id"))
	}
}
