package admin

import (
	"mime"
	"net/http"
	"strconv"
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
	// Attempt counts the pipeline's runs: 1, one more per retry.
	Attempt    int        `json:"attempt"`
	Error      string     `json:"error,omitempty"` // why rejected or failed, in short
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ArchivedAt *time.Time `json:"archived_at,omitempty"`
	PurgedAt   *time.Time `json:"purged_at,omitempty"`
	DryRun     bool       `json:"dry_run"`
	ReportURL  string     `json:"report_url,omitempty"` // once finished
	// Files are the files the pipeline made of the upload in the current
	// attempt, the upload itself first.
	Files []uploadFileResponse `json:"files"`
}

// uploadFileResponse renders one file an upload yielded: the upload itself
// or an entry of its archive, after decryption.
type uploadFileResponse struct {
	ID         string   `json:"id"`
	ParentID   string   `json:"parent_id,omitempty"`
	Stage      string   `json:"stage"` // the stage that made it: upload, pgp, zip or csv
	Name       string   `json:"name"`
	Status     string   `json:"status"` // pending, done, ready, rejected or failed
	Next       string   `json:"next,omitempty"`
	Rows       int64    `json:"rows"`
	Size       int64    `json:"size"`
	SHA256     string   `json:"sha256"`
	Chain      []string `json:"chain"`
	Columns    []string `json:"columns,omitempty"`
	Error      string   `json:"error,omitempty"`
	Deliveries int      `json:"deliveries"`
	ContentURL string   `json:"content_url,omitempty"`
}

// newUploadResponse copies the public fields of u and its files.
func newUploadResponse(u pipeline.Upload) uploadResponse {
	files := make([]uploadFileResponse, len(u.Files))
	for i, f := range u.Files {
		files[i] = uploadFileResponse{ID: f.ID, ParentID: f.ParentID, Stage: f.Stage, Name: f.Name, Status: string(f.Status),
			Next: f.Next, Rows: f.Rows, Size: f.Size, SHA256: f.SHA256, Chain: f.Chain, Columns: f.Columns, Error: f.Error,
			Deliveries: f.Deliveries, ContentURL: f.ContentURL}
	}
	report := ""
	if u.FinishedAt != nil {
		report = pipeline.ReportURL(u.ID)
	}
	return uploadResponse{
		Attempt:         u.Attempt,
		Error:           u.Error,
		FinishedAt:      u.FinishedAt,
		ArchivedAt:      u.ArchivedAt,
		PurgedAt:        u.PurgedAt,
		DryRun:          u.DryRun(),
		ReportURL:       report,
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
		Files:           files,
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

// getReport answers GET /api/v1/uploads/{id}/report: the JSON report the
// customer reads in /reports.
func (s *Server) getReport(c *echo.Context) error {
	if s.uploads == nil {
		return unavailable("upload intake")
	}
	rep, err := s.uploads.UploadReport(c.Request().Context(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// getReportErrors answers GET /api/v1/uploads/{id}/report/errors.csv: every
// problem found, as line,column,value,message.
func (s *Server) getReportErrors(c *echo.Context) error {
	if s.uploads == nil {
		return unavailable("upload intake")
	}
	rc, err := s.uploads.UploadErrors(c.Request().Context(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	return c.Stream(http.StatusOK, "text/csv; charset=utf-8", rc)
}

// getFileContent answers GET /api/v1/files/{id}/content: the accepted CSV,
// streamed, for importers.
func (s *Server) getFileContent(c *echo.Context) error {
	if s.uploads == nil {
		return unavailable("upload intake")
	}
	f, rc, err := s.uploads.FileContent(c.Request().Context(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	h.Set("ETag", strconv.Quote(f.SHA256))
	h.Set("X-Sluice-Rows", strconv.FormatInt(f.Rows, 10))
	return c.Stream(http.StatusOK, "text/csv; charset=utf-8", rc)
}

// retryUpload answers POST /api/v1/uploads/{id}/retry: a rejected or failed
// upload runs again as a new attempt (202: it is queued).
func (s *Server) retryUpload(c *echo.Context) error {
	if s.uploads == nil {
		return unavailable("upload intake")
	}
	u, err := s.uploads.Retry(c.Request().Context(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, newUploadResponse(u))
}
