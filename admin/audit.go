package admin

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// auditTimeout bounds recording one audit event.
const auditTimeout = 5 * time.Second

// auditDetailKey is the context key of an audit event's detail.
const auditDetailKey = "sluice.admin.audit_detail"

// audited is the middleware of a mutation route: when the handler answers
// with a 2xx status, it records an audit event for action, just before the
// status is written, so a client never sees a success whose event is not yet
// stored. The target is the resource's path below /api/v1: the Location of a
// created resource, else the request path.
func (s *Server) audited(action string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			resp, err := echo.UnwrapResponse(c.Response())
			if err != nil {
				return err
			}
			resp.Before(func() {
				if resp.Status >= 200 && resp.Status < 300 {
					s.recordAudit(c, action, auditTarget(c, resp.Header().Get(echo.HeaderLocation)))
				}
			})
			return next(c)
		}
	}
}

// setAuditDetail gives the audit event of the current mutation a detail,
// such as who a killed session belonged to. detail must never hold a secret.
func setAuditDetail(c *echo.Context, detail string) {
	c.Set(auditDetailKey, detail)
}

// auditTarget returns the path below /api/v1 of the resource a mutation
// changed.
func auditTarget(c *echo.Context, location string) string {
	p := c.Request().URL.Path
	if location != "" {
		p = location
	}
	return strings.TrimPrefix(p, apiPrefix+"/")
}

// recordAudit stores one successful mutation. The change has been made by
// then, so a failure to record it is logged, not answered.
func (s *Server) recordAudit(c *echo.Context, action, target string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), auditTimeout)
	defer cancel()
	ev := credentials.AuditEvent{
		Time:      time.Now().UTC(),
		Actor:     actor(c),
		Action:    action,
		Target:    target,
		Remote:    c.RealIP(),
		RequestID: requestID(c),
		Result:    "ok",
	}
	if d, ok := c.Get(auditDetailKey).(string); ok {
		ev.Detail = d
	}
	if err := s.svc.RecordAudit(ctx, ev); err != nil {
		s.logger.Error("record audit event", "err", err, "action", action, "target", target,
			"actor", ev.Actor, "request_id", ev.RequestID)
	}
}

// listAudit answers GET /api/v1/audit?actor=&action=&target=&limit=&cursor=.
func (s *Server) listAudit(c *echo.Context) error {
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	f := credentials.AuditFilter{
		Actor:  c.QueryParam("actor"),
		Action: c.QueryParam("action"),
		Target: c.QueryParam("target"),
	}
	events, next, err := s.svc.Audit(c.Request().Context(), f, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(events, next))
}
