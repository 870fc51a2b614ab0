package pipeline

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
)

// Status is the processing state of an upload.
type Status string

// The states of an upload (DESIGN.md, Admin API). An upload is received when
// recorded, processing once the pipeline took it, and ends ready when every
// CSV it yielded is ready, rejected when any was rejected, or failed after an
// internal fault outlived its retries.
const (
	StatusReceived   Status = "received"
	StatusProcessing Status = "processing"
	StatusReady      Status = "ready"
	StatusRejected   Status = "rejected"
	StatusFailed     Status = "failed"
)

// Valid reports whether s is one of the upload states.
func (s Status) Valid() bool {
	switch s {
	case StatusReceived, StatusProcessing, StatusReady, StatusRejected, StatusFailed:
		return true
	}
	return false
}

// Upload is one file a customer closed over SFTP, as recorded by Intake.
// Its JSON form is the item of the admin API's uploads list.
type Upload struct {
	ID            string    `json:"id"`      // ULID, sorts by time of receipt
	Account       string    `json:"account"` //
	Feed          string    `json:"feed"`    // feed whose folder holds Path; "" when none does
	Path          string    `json:"path"`    // virtual path as uploaded, e.g. /orders/x.csv
	File          string    `json:"-"`       // local path of the received file
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"` // hex
	Status        Status    `json:"status"`
	SessionID     string    `json:"session_id,omitempty"`
	Remote        string    `json:"remote,omitempty"` // client address, host:port
	ClientVersion string    `json:"client_version,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
	UpdatedAt     time.Time `json:"updated_at"` // last status change
	// PublishedAt is when JetStream acknowledged the received event; nil
	// while the event waits in the outbox.
	PublishedAt     *time.Time `json:"published_at,omitempty"`
	PublishAttempts int        `json:"publish_attempts"`     // failed and successful
	LastError       string     `json:"last_error,omitempty"` // last publish error, "" after a success
	// Attempt counts the runs of the pipeline over the upload: 1, and one
	// more per retry (Runner.Retry).
	Attempt int `json:"attempt"`
	// Error says why the upload was rejected or failed, in short; the
	// report has every file's errors.
	Error string `json:"error,omitempty"`
	// FinishedAt is when the current attempt reached its final state.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// ArchivedAt is when the original left the customer's tree for the
	// archive; PurgedAt when the archive and the outputs were removed.
	ArchivedAt *time.Time `json:"archived_at,omitempty"`
	PurgedAt   *time.Time `json:"purged_at,omitempty"`
	// Node is the node that received the upload (pipeline.intake.node):
	// its disk holds the received file.
	Node string `json:"node,omitempty"`
	// Files are the files of the current attempt, the upload itself first;
	// filled in by the admin API's reads.
	Files []File `json:"files"`
}

// DryRunFolder is the folder of an account's tree whose uploads are a dry
// run: the whole pipeline and its report, nothing announced downstream. A
// dry run's feed is the one its path has without the folder:
// /_test/orders/x.csv is checked against the feed of /orders.
const DryRunFolder = "/_test"

// DryRun reports whether u is a dry run: uploaded under /_test/.
func (u Upload) DryRun() bool { return strings.HasPrefix(u.Path, DryRunFolder+"/") }

// UploadBlobKey returns the blob key of upload id's content, which is also
// its archive: uploads/<id>, in one folder for the content of every upload.
// The other blobs of an upload, its stages' outputs and its reports, live in
// the folder <id>; its content does not, because the intake links it on the
// path a closing SFTP client waits for, and making a folder per upload cost
// several times as much as the link.
func UploadBlobKey(uploadID string) string { return "uploads/" + uploadID }

// RootID returns the file id of the upload itself in attempt n: the upload
// id in the first, derived from it in later ones, so that every attempt's
// files and events have ids of their own.
func RootID(uploadID string, attempt int) string {
	if attempt <= 1 {
		return uploadID
	}
	return ChildID(uploadID, "attempt", strconv.Itoa(attempt))
}

// RootObject returns the upload as the input of its first stage in its
// current attempt.
func RootObject(u Upload) Object {
	return Object{
		ID:       RootID(u.ID, u.Attempt),
		UploadID: u.ID,
		Account:  u.Account,
		Feed:     u.Feed,
		Name:     u.Name(),
		Key:      UploadBlobKey(u.ID),
		Size:     u.Size,
		SHA256:   u.SHA256,
	}
}

// Name returns the upload's file name as uploaded, the base of its path.
func (u Upload) Name() string { return path.Base(u.Path) }

// UploadFilter selects uploads; empty fields match everything.
type UploadFilter struct {
	Account string
	Status  Status
}

// Page limits, as the admin API documents them.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

const uploadColumns = `id, account, feed, path, file, size, sha256, status, session_id, remote,
	client_version, received_at, updated_at, published_at, publish_attempts, last_error,
	attempt, error, finished_at, archived_at, purged_at, node`

// insertUpload records u. A single INSERT is its own transaction: the row and
// its outbox entry (published_at NULL) appear together or not at all.
func (in *Intake) insertUpload(ctx context.Context, u Upload) error {
	err := in.write(ctx, `INSERT INTO uploads (`+uploadColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, 0, '', 1, '', NULL, NULL, NULL, $14)`,
		u.ID, u.Account, u.Feed, u.Path, u.File, u.Size, u.SHA256, string(u.Status), u.SessionID, u.Remote,
		u.ClientVersion, u.ReceivedAt.UnixMicro(), u.UpdatedAt.UnixMicro(), u.Node)
	if err != nil {
		return fmt.Errorf("record upload %q of account %q: %w", u.Path, u.Account, err)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanUpload(s scanner) (Upload, error) {
	var (
		u                 Upload
		status            string
		received, updated int64
		published         sql.NullInt64
		attempts          int64
		attempt           int64
		finished          sql.NullInt64
		archived, purged  sql.NullInt64
	)
	err := s.Scan(&u.ID, &u.Account, &u.Feed, &u.Path, &u.File, &u.Size, &u.SHA256, &status, &u.SessionID, &u.Remote,
		&u.ClientVersion, &received, &updated, &published, &attempts, &u.LastError,
		&attempt, &u.Error, &finished, &archived, &purged, &u.Node)
	if err != nil {
		return Upload{}, err
	}
	u.Status = Status(status)
	u.ReceivedAt = fromMicros(received)
	u.UpdatedAt = fromMicros(updated)
	u.PublishedAt = optionalTime(published)
	u.PublishAttempts = int(attempts)
	u.Attempt = int(attempt)
	u.FinishedAt = optionalTime(finished)
	u.ArchivedAt = optionalTime(archived)
	u.PurgedAt = optionalTime(purged)
	return u, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// optionalTime returns the time of a nullable microseconds column, nil for
// NULL.
func optionalTime(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// queryUploads runs a SELECT of uploadColumns and scans every row.
func queryUploads(ctx context.Context, db *store.DB, query string, args ...any) ([]Upload, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanUploads(rows)
}

// scanUploads reads every row of rows (uploadColumns) and closes it.
func scanUploads(rows *sql.Rows) ([]Upload, error) {
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Upload returns the upload with the given id, or an error wrapping
// credentials.ErrNotFound. It is safe for concurrent use.
func (in *Intake) Upload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(in.db.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, fmt.Errorf("upload %q: %w", id, credentials.ErrNotFound)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %q: %w", id, err)
	}
	us := []Upload{u}
	if err := withFiles(ctx, in.db, us); err != nil {
		return Upload{}, err
	}
	return us[0], nil
}

// Uploads returns one page of the uploads that match f, newest first, and the
// cursor of the next page ("" after the last). p.Limit defaults to 100 and is
// at most 1000. A bad cursor or status is a *credentials.ValidationError. It is
// safe for concurrent use.
func (in *Intake) Uploads(ctx context.Context, f UploadFilter, p credentials.Page) ([]Upload, string, error) {
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = defaultPageLimit
	case limit > maxPageLimit:
		limit = maxPageLimit
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Account != "" {
		where = append(where, "account = "+arg(f.Account))
	}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, "", &credentials.ValidationError{Field: "status",
				Reason: fmt.Sprintf("must be received, processing, ready, rejected or failed (got %q)", f.Status)}
		}
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if p.After != "" {
		after, err := decodeCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "id < "+arg(after))
	}
	query := `SELECT ` + uploadColumns + ` FROM uploads`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ` + arg(limit+1)
	items, err := queryUploads(ctx, in.db, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list uploads: %w", err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = encodeCursor(items[limit-1].ID)
	}
	if err := withFiles(ctx, in.db, items); err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// encodeCursor makes the opaque cursor that resumes a list after id.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// decodeCursor returns the upload id a cursor resumes after.
func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		if _, err = ulid.ParseStrict(string(b)); err == nil {
			return string(b), nil
		}
	}
	return "", &credentials.ValidationError{Field: "cursor", Reason: "invalid cursor: use the next value of a previous page"}
}
