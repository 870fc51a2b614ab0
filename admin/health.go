package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
)

// readyTimeout bounds one readiness check of the store.
const readyTimeout = 2 * time.Second

// status is the body of the health endpoints.
type status struct {
	Status string `json:"status"`
}

// healthz answers 200 while the process is up.
func (s *Server) healthz(c *echo.Context) error {
	return c.JSON(http.StatusOK, status{Status: "ok"})
}

// readyz answers 200 when the store answers, else 503.
func (s *Server) readyz(c *echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.logger.Warn("store not ready", "err", err, "request_id", requestID(c))
		return httpError(http.StatusServiceUnavailable, "the store does not answer")
	}
	return c.JSON(http.StatusOK, status{Status: "ready"})
}
