package admin

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// sessionResponse renders an SFTP session.
type sessionResponse struct {
	ID             string    `json:"id"`
	Account        string    `json:"account"`
	Remote         string    `json:"remote"` // host:port
	ClientVersion  string    `json:"client_version"`
	Method         string    `json:"method"`
	KeyFingerprint string    `json:"key_fingerprint,omitempty"`
	StartedAt      time.Time `json:"started_at"`
}

// sessionKey orders sessions by start, then id; neither ever changes.
func sessionKey(s Session) string {
	return fmt.Sprintf("%020d/%s", max(s.Started.UnixNano(), 0), s.ID)
}

// listSessions answers GET /api/v1/sessions?limit=&cursor=, oldest first.
func (s *Server) listSessions(c *echo.Context) error {
	if s.sessions == nil {
		return unavailable("SFTP server")
	}
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	sessions, next, err := pageByKey(s.sessions.Sessions(), sessionKey, p)
	if err != nil {
		return err
	}
	items := make([]sessionResponse, len(sessions))
	for i, ss := range sessions {
		items[i] = sessionResponse{
			ID:             ss.ID,
			Account:        ss.Account,
			Remote:         ss.Remote.String(),
			ClientVersion:  ss.ClientVersion,
			Method:         ss.Method,
			KeyFingerprint: ss.KeyFingerprint,
			StartedAt:      ss.Started.UTC(),
		}
	}
	return c.JSON(http.StatusOK, newList(items, next))
}

// killSession answers DELETE /api/v1/sessions/{id}: the connection ends at
// once, as a disconnect would, and an upload in flight is not handed on. Its
// audit event names the session's account and address.
func (s *Server) killSession(c *echo.Context) error {
	if s.sessions == nil {
		return unavailable("SFTP server")
	}
	id := pathParam(c, "id")
	var found *Session
	for _, ss := range s.sessions.Sessions() {
		if ss.ID == id {
			found = &ss
			break
		}
	}
	if found == nil || !s.sessions.Kill(id) {
		return fmt.Errorf("session %q: %w", id, credentials.ErrNotFound)
	}
	setAuditDetail(c, fmt.Sprintf("account %s from %s", found.Account, found.Remote))
	return c.NoContent(http.StatusNoContent)
}
