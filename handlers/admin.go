package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/problem"
)

// bearerAuth guards a route with "Authorization: Bearer <token>". An unset
// token disables the feature: the route answers disabledStatus with a
// detail naming the variable to set. Tokens are compared as SHA-256
// digests in constant time, so neither content nor length leaks by timing.
func bearerAuth(token, feature, envVar string, disabledStatus int) gin.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		if token == "" {
			abortWith(c, problem.New(disabledStatus, problem.SlugFeatureDisabled,
				fmt.Sprintf("the %s is disabled: set %s to enable it", feature, envVar)))
			return
		}
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		gotSum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(want[:], gotSum[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="ordersvc"`)
			abortWith(c, problem.New(http.StatusUnauthorized, problem.SlugUnauthorized, "a valid bearer token is required"))
			return
		}
	}
}

func (h *api) getFaults(c *gin.Context) {
	c.JSON(http.StatusOK, h.Faults.Get())
}

func (h *api) putFaults(c *gin.Context) {
	body, p := readJSONBody(c, maxAdminBody)
	if p == nil {
		var cfg faults.Config
		if p = decodeObject(body, &cfg, false); p == nil {
			if err := cfg.Validate(FaultableRoutes()); err != nil {
				h.fail(c, ordersvc.WrapError(ordersvc.KindInvalid, err, err.Error()))
				return
			}
			h.Faults.Set(cfg)
			h.Logger.Warn("fault injection changed", "active", cfg.Active(), "error_rate", cfg.ErrorRate,
				"latency_ms", cfg.LatencyMS, "panic_rate", cfg.PanicRate, "routes", cfg.Routes)
			c.JSON(http.StatusOK, h.Faults.Get())
			return
		}
	}
	abortWith(c, *p)
}
