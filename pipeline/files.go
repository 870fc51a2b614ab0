package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
)

// FileStatus is the state of one file of an upload.
type FileStatus string

// The states of a file. A file is pending while its task waits or runs,
// done once its stage made the next files from it, and ends ready (an
// accepted CSV), rejected (bad input, with the reason) or failed (an
// internal fault outlived its retries).
const (
	FilePending  FileStatus = "pending"
	FileDone     FileStatus = "done"
	FileReady    FileStatus = "ready"
	FileRejected FileStatus = "rejected"
	FileFailed   FileStatus = "failed"
)

// Final reports whether s is an end state.
func (s FileStatus) Final() bool { return s == FileReady || s == FileRejected || s == FileFailed }

// File is one object at one stage of one attempt of an upload: the upload
// itself (stage "upload"), a decrypted payload, a ZIP entry, a validated
// CSV. Its JSON form is an item of an upload's files in the admin API.
type File struct {
	ID       string     `json:"id"`
	UploadID string     `json:"-"`
	Attempt  int        `json:"-"`
	ParentID string     `json:"parent_id,omitempty"`
	Stage    string     `json:"stage"` // the stage that made it: upload, pgp, zip, csv
	Name     string     `json:"name"`
	Next     string     `json:"next,omitempty"` // the stage that takes it while pending
	Status   FileStatus `json:"status"`
	Chain    []string   `json:"chain"`
	Size     int64      `json:"size"`
	SHA256   string     `json:"sha256"`
	Rows     int64      `json:"rows"`
	Columns  []string   `json:"columns,omitempty"`
	// Error says why the file was rejected or failed; while pending, the
	// last internal fault of its task, which is being retried.
	Error      string    `json:"error,omitempty"`
	Deliveries int       `json:"deliveries"` // tries of its task so far
	ContentURL string    `json:"content_url,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Object is the file as the stages see it.
	Object Object `json:"-"`
	// lineage is the chain of names from the upload down, unique per stage
	// within an attempt (two ZIP entries may decrypt to the same name).
	lineage string
}

// Leaf reports whether f is an outcome the upload is judged by: a file that
// ended, rather than one a stage turned into others.
func (f File) Leaf() bool { return f.Status.Final() }

const fileColumns = `id, upload_id, attempt, parent_id, stage, name, lineage, next, status, error,
	deliveries, rows, size, object, created_at, updated_at`

func scanFile(s scanner) (File, error) {
	var (
		f                File
		status, object   string
		created, updated int64
		attempt, deliv   int64
	)
	err := s.Scan(&f.ID, &f.UploadID, &attempt, &f.ParentID, &f.Stage, &f.Name, &f.lineage, &f.Next, &status, &f.Error,
		&deliv, &f.Rows, &f.Size, &object, &created, &updated)
	if err != nil {
		return File{}, err
	}
	if err := json.Unmarshal([]byte(object), &f.Object); err != nil {
		return File{}, fmt.Errorf("file %s: decode object: %w", f.ID, err)
	}
	f.Attempt, f.Deliveries = int(attempt), int(deliv)
	f.Status = FileStatus(status)
	f.CreatedAt, f.UpdatedAt = fromMicros(created), fromMicros(updated)
	f.fill()
	return f, nil
}

// fill derives the JSON fields that mirror the object.
func (f *File) fill() {
	o := f.Object
	f.Chain = o.Chain
	if f.Chain == nil {
		f.Chain = []string{}
	}
	f.SHA256 = o.SHA256
	if o.Result != nil {
		f.Columns = o.Result.Columns
	}
	f.ContentURL = ""
	if f.Status == FileReady {
		f.ContentURL = ContentURL(f.ID)
	}
}

// newFile returns the record of o as made by stage.
func newFile(o Object, attempt int, stage, lineage string, status FileStatus, now time.Time) File {
	f := File{
		ID:        o.ID,
		UploadID:  o.UploadID,
		Attempt:   attempt,
		ParentID:  o.ParentID,
		Stage:     stage,
		Name:      o.Name,
		Status:    status,
		Size:      o.Size,
		Object:    o,
		CreatedAt: now,
		UpdatedAt: now,
		lineage:   lineage,
	}
	if o.Result != nil {
		f.Rows = o.Result.Rows
	}
	f.fill()
	return f
}

// lineageSep separates the names of a lineage: the ASCII unit separator,
// which file names do not hold and PostgreSQL's text does (unlike NUL).
const lineageSep = "\x1f"

// queryer is a *sql.DB, *sql.Tx or *store.DB.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertFile records f unless a file of the same id, or of the same
// attempt, stage and lineage, is recorded already (a redelivery), and
// reports whether it did.
func insertFile(ctx context.Context, q queryer, f File) (bool, error) {
	object, err := json.Marshal(f.Object)
	if err != nil {
		return false, fmt.Errorf("encode file %s: %w", f.ID, err)
	}
	res, err := q.ExecContext(ctx, `INSERT INTO files (`+fileColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING`,
		f.ID, f.UploadID, f.Attempt, f.ParentID, f.Stage, f.Name, f.lineage, f.Next, string(f.Status), truncate(f.Error, 4000),
		f.Deliveries, f.Rows, f.Size, string(object), f.CreatedAt.UnixMicro(), f.UpdatedAt.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("record file %s: %w", f.ID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// getFile returns the file id, or an error wrapping credentials.ErrNotFound.
func getFile(ctx context.Context, q queryer, id string) (File, error) {
	f, err := scanFile(q.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, fmt.Errorf("file %q: %w", id, credentials.ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("read file %q: %w", id, err)
	}
	return f, nil
}

// queryFiles runs a SELECT of fileColumns and scans every row.
func queryFiles(ctx context.Context, q queryer, query string, args ...any) ([]File, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// attemptFiles returns the files of one attempt of an upload in the order
// they were made.
func attemptFiles(ctx context.Context, q queryer, uploadID string, attempt int) ([]File, error) {
	files, err := queryFiles(ctx, q, `SELECT `+fileColumns+` FROM files WHERE upload_id = $1 AND attempt = $2
		ORDER BY created_at, id`, uploadID, attempt)
	if err != nil {
		return nil, fmt.Errorf("read files of upload %s: %w", uploadID, err)
	}
	return files, nil
}

// childFiles returns the files made from file parentID.
func childFiles(ctx context.Context, q queryer, parent File) ([]File, error) {
	files, err := queryFiles(ctx, q, `SELECT `+fileColumns+` FROM files WHERE upload_id = $1 AND attempt = $2 AND parent_id = $3
		ORDER BY created_at, id`, parent.UploadID, parent.Attempt, parent.ID)
	if err != nil {
		return nil, fmt.Errorf("read files made from %s: %w", parent.ID, err)
	}
	return files, nil
}

// updateFile writes the outcome of f's task: its status, error, tries and
// object (a csv result), but only while f is still pending, and reports
// whether it did.
func updateFile(ctx context.Context, q queryer, f File, now time.Time) (bool, error) {
	object, err := json.Marshal(f.Object)
	if err != nil {
		return false, fmt.Errorf("encode file %s: %w", f.ID, err)
	}
	res, err := q.ExecContext(ctx, `UPDATE files SET status = $1, error = $2, deliveries = $3, rows = $4, object = $5,
		updated_at = $6 WHERE id = $7 AND status = 'pending'`,
		string(f.Status), truncate(f.Error, 4000), f.Deliveries, f.Rows, string(object), now.UnixMicro(), f.ID)
	if err != nil {
		return false, fmt.Errorf("record outcome of file %s: %w", f.ID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Files returns the files of the current attempt of upload id in the order
// they were made, the upload itself first. It is safe for concurrent use.
func (in *Intake) Files(ctx context.Context, u Upload) ([]File, error) {
	return attemptFiles(ctx, in.db, u.ID, u.Attempt)
}

// File returns the file id of any attempt, or an error wrapping
// credentials.ErrNotFound. It is safe for concurrent use.
func (in *Intake) File(ctx context.Context, id string) (File, error) {
	return getFile(ctx, in.db, id)
}

// withFiles fills in the files of each upload's current attempt with one
// query.
func withFiles(ctx context.Context, db *store.DB, uploads []Upload) error {
	if len(uploads) == 0 {
		return nil
	}
	ids := make([]string, len(uploads))
	for i, u := range uploads {
		ids[i] = u.ID
	}
	files, err := queryFiles(ctx, db, `SELECT `+fileColumns+` FROM files WHERE upload_id IN (`+placeholders(1, len(ids))+`)
		ORDER BY created_at, id`, idArgs(ids[0], ids[1:])...)
	if err != nil {
		return fmt.Errorf("read files of %d uploads: %w", len(ids), err)
	}
	byID := make(map[string]*Upload, len(uploads))
	for i := range uploads {
		uploads[i].Files = []File{}
		byID[uploads[i].ID] = &uploads[i]
	}
	for _, f := range files {
		if u := byID[f.UploadID]; u != nil && u.Attempt == f.Attempt {
			u.Files = append(u.Files, f)
		}
	}
	return nil
}
