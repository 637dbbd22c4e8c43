package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/problem"
)

// healthz is liveness: the process serves HTTP.
func (h *api) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz is readiness: the database answers and the server is not draining.
func (h *api) readyz(c *gin.Context) {
	if h.Draining != nil && h.Draining.Load() {
		problem.Write(c.Writer, c.Request, problem.New(http.StatusServiceUnavailable, problem.SlugDraining, "the server is shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		h.Logger.Warn("readiness check failed", "error", err.Error())
		problem.Write(c.Writer, c.Request, problem.New(http.StatusServiceUnavailable, problem.SlugUnavailable, "the database does not answer"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
