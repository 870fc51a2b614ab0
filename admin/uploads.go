package admin

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
)

// uploadResponse renders an upload. It is the API's contract, spelled out
// field by field: the local path of the received file, and anything else
// pipeline.Upload may gain, stays out unless added here.
type uploadResponse struct {
	ID            string `json:"id"`
	Account       string `json:"account"`
	Feed          string `json:"feed"` // "" when no feed's folder holds Path
	Path          string `json:"path"` // as uploaded, in the account's tree
	Size          int64  `json:"size"`
	SHA256        string `json:"sha256"`
	Status        string `json:"status"`
	SessionID     string `json:"session_id,omitempty"`
	Remote        string `json:"remote,omitempty"`
	ClientVersion string `json:"client_version,omitempty"`
	// The publish fields tell an operator why a received event is late.
	PublishedAt     *time.Time `json:"published_at,omitempty"`
	PublishAttempts int        `json:"publish_attempts"`
	PublishError    string     `json:"publish_error,omitempty"`
	ReceivedAt      time.Time  `json:"received_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	// Files are the files the pipeline yielded from the upload.
	Files []uploadFileResponse `json:"files"`
}

// uploadFileResponse renders one file an upload yielded: the upload itself
// or an entry of its archive, after decryption.
type uploadFileResponse struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Status string   `json:"status"`
	Rows   int64    `json:"rows"`
	Chain  []string `json:"chain"`
	Error  string   `json:"error,omitempty"`
}

// newUploadResponse copies the public fields of u. Its files stay empty
// until the pipeline records the files an upload yields.
func newUploadResponse(u pipeline.Upload) uploadResponse {
	return uploadResponse{
		ID:              u.ID,
		Account:         u.Account,
		Feed:            u.Feed,
		Path:            u.Path,
		Size:            u.Size,
		SHA256:          u.SHA256,
		Status:          string(u.Status),
		SessionID:       u.SessionID,
		Remote:          u.Remote,
		ClientVersion:   u.ClientVersion,
		PublishedAt:     u.PublishedAt,
		PublishAttempts: u.PublishAttempts,
		PublishError:    u.LastError,
		ReceivedAt:      u.ReceivedAt,
		UpdatedAt:       u.UpdatedAt,
		Files:           []uploadFileResponse{},
	}
}

// listUploads answers GET /api/v1/uploads?account=&status=&limit=&cursor=,
// newest first.
func (s *Server) listUploads(c *echo.Context) error {
	if s.uploads == nil {
		return unavailable("upload intake")
	}
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	f := pipeline.UploadFilter{Account: c.QueryParam("account"), Status: pipeline.Status(c.QueryParam("status"))}
	if f.Account != "" {
		if err := credentials.CheckAccountName("account", f.Account); err != nil {
			return err
		}
	}
	uploads, next, err := s.uploads.Uploads(c.Request().Context(), f, p)
	if err != nil {
		return err
	}
	items := make([]uploadResponse, len(uploads))
	for i, u := range uploads {
		items[i] = newUploadResponse(u)
	}
	return c.JSON(http.StatusOK, newList(items, next))
}

// getUpload answers GET /api/v1/uploads/{id}.
func (s *Server) getUpload(c *echo.Context) error {
	if s.uploads == nil {
		return unavailable("upload intake")
	}
	u, err := s.uploads.Upload(c.Request().Context(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newUploadResponse(u))
}
