package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// problemContentType is the media type of RFC 9457 problem details.
const problemContentType = "application/problem+json"

// problem is an RFC 9457 problem details document. RequestID and Errors are
// extension members.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []fieldError `json:"errors,omitempty"`
}

// fieldError is one entry of a 422 problem's "errors" extension member.
type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// httpError returns an error that statusFor classifies as status, with
// detail as the problem's detail. detail must never contain a secret or a
// request body.
func httpError(status int, format string, args ...any) error {
	return echo.NewHTTPError(status, fmt.Sprintf(format, args...))
}

// unavailable answers a route whose component this server was built without
// (see Deps).
func unavailable(component string) error {
	return httpError(http.StatusServiceUnavailable, "this server runs no %s: the route is not available here", component)
}

// errUnauthorized is the one answer to every failed authentication: it does
// not say which check failed.
var errUnauthorized = echo.NewHTTPError(http.StatusUnauthorized, "missing, invalid or expired bearer credentials")

// statusFor classifies err, once, into the HTTP status of its response.
func statusFor(err error) int {
	var (
		ve *credentials.ValidationError
		sc echo.HTTPStatusCoder
	)
	switch {
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity
	case errors.Is(err, credentials.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, credentials.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, credentials.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.As(err, &sc) && sc.StatusCode() >= 400 && sc.StatusCode() < 600:
		return sc.StatusCode()
	}
	return http.StatusInternalServerError
}

// problemFor builds the problem document answering err, whose status
// statusFor has decided. Only messages written for clients become the
// detail: ours, and the service's not-found, conflict and validation errors.
func (s *Server) problemFor(err error, status int) problem {
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status}
	var (
		ve *credentials.ValidationError
		he *echo.HTTPError
	)
	switch {
	case status == http.StatusInternalServerError:
		p.Detail = "internal error; the server log has details under this request id"
	case status == http.StatusUnauthorized:
		p.Detail = errUnauthorized.Message
	case status == http.StatusRequestEntityTooLarge:
		p.Detail = fmt.Sprintf("request body exceeds the limit of %d bytes", s.cfg.BodyLimit)
	case errors.As(err, &ve):
		p.Detail = ve.Error()
		p.Errors = []fieldError{{Field: ve.Field, Reason: ve.Reason}}
	case errors.Is(err, credentials.ErrNotFound), errors.Is(err, credentials.ErrConflict):
		p.Detail = err.Error()
	case errors.As(err, &he) && he.Message != "":
		p.Detail = he.Message
	case status == http.StatusNotFound:
		p.Detail = "no such resource"
	case status == http.StatusMethodNotAllowed:
		p.Detail = "method not allowed on this resource"
	default:
		p.Detail = http.StatusText(status)
	}
	return p
}

// handleError is the echo HTTPErrorHandler: it answers every error, echo's
// own 404/405/413 and recovered panics included, with a problem document.
func (s *Server) handleError(c *echo.Context, err error) {
	if resp, uerr := echo.UnwrapResponse(c.Response()); uerr == nil && resp.Committed {
		s.logger.Error("error after response was sent", "err", err, "request_id", requestID(c))
		return
	}
	status := statusFor(err)
	p := s.problemFor(err, status)
	p.RequestID = requestID(c)
	if status == http.StatusInternalServerError {
		s.logger.Error("admin request failed", "err", err, "request_id", p.RequestID,
			"method", c.Request().Method, "route", c.Path())
	}
	h := c.Response().Header()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	body, merr := json.Marshal(p)
	if merr != nil {
		s.logger.Error("encode problem", "err", merr, "request_id", p.RequestID)
		return
	}
	if werr := c.Blob(status, problemContentType, body); werr != nil {
		s.logger.Debug("write problem", "err", werr, "request_id", p.RequestID, slog.Int("status", status))
	}
}
