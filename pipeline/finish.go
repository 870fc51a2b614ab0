package pipeline

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
)

// Report is what a customer reads about one processed upload, in /reports
// over SFTP and through the admin API (DESIGN.md, Reports).
type Report struct {
	UploadID   string       `json:"upload_id"`
	Account    string       `json:"account"`
	Feed       string       `json:"feed"`
	UploadName string       `json:"upload_name"`
	Path       string       `json:"path"`
	Size       int64        `json:"size"`
	SHA256     string       `json:"sha256"`
	Status     Status       `json:"status"`
	Attempt    int          `json:"attempt"`
	DryRun     bool         `json:"dry_run"`
	Chain      []string     `json:"chain"` // the longest chain of the upload's files
	Error      string       `json:"error,omitempty"`
	ReceivedAt time.Time    `json:"received_at"`
	FinishedAt time.Time    `json:"finished_at"`
	Files      []ReportFile `json:"files"`
	// ErrorsFile names the report's companion in /reports listing every
	// problem as line,column,value,message; "" when there were none.
	ErrorsFile string `json:"errors_file,omitempty"`
}

// ReportFile is one outcome of an upload: a CSV, or a file rejected on its
// way to becoming one.
type ReportFile struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Chain        []string   `json:"chain"`
	Status       FileStatus `json:"status"`
	Rows         int64      `json:"rows"`
	RejectedRows int64      `json:"rejected_rows"`
	Warnings     int64      `json:"warnings"`
	Columns      []string   `json:"columns"`
	Error        string     `json:"error,omitempty"`
	Errors       []Problem  `json:"errors,omitempty"`
	ErrorsTotal  int64      `json:"errors_total"`
}

// ReportName returns the name of an upload's report in /reports:
// <upload name>.<upload id>.json; its errors are in the same name with
// .errors.csv instead of .json.
func ReportName(u Upload) string { return u.Name() + "." + u.ID + ".json" }

// ErrorsName returns the name of an upload's errors file in /reports.
func ErrorsName(u Upload) string { return u.Name() + "." + u.ID + ".errors.csv" }

// reportKey and errorsKey are the blobs of an attempt's reports.
func reportKey(u Upload) string { return u.ID + "/report-" + strconv.Itoa(u.Attempt) + ".json" }
func errorsKey(u Upload) string { return u.ID + "/errors-" + strconv.Itoa(u.Attempt) + ".csv" }

// finish completes a finished attempt: it writes the report blobs,
// removes the intermediate blobs and, on the node that received the upload,
// delivers it (deliver). Every step is idempotent: a redelivered last task,
// or two siblings settling at once, finish again.
func (r *Runner) finish(ctx context.Context, u Upload) error {
	files, err := attemptFiles(ctx, r.db, u.ID, u.Attempt)
	if err != nil {
		return err
	}
	if err := r.writeReports(ctx, u, files); err != nil {
		return err
	}
	// The intermediate blobs (decrypted payloads, extracted entries) have
	// served; the original (the archive), ready CSVs and reports stay
	// until the janitor purges the upload.
	for _, f := range files {
		if f.Stage != "upload" && f.Status != FileReady && f.Object.Key != "" {
			if err := r.blobs.Remove(ctx, f.Object.Key); err != nil {
				return err
			}
		}
	}
	if !r.owns(u) {
		return nil // the receiving node's janitor delivers it (deliverPending)
	}
	return r.deliver(ctx, u)
}

// owns reports whether this node received u: the received file is on its
// disk, and the account's tree it shows the customer.
func (r *Runner) owns(u Upload) bool { return u.Node == "" || u.Node == r.node }

// deliver puts a finished upload's reports into the customer's /reports and
// takes the original out of the customer's tree (archived_at marks it
// done). Its report blobs must exist (finish wrote them). It is idempotent.
func (r *Runner) deliver(ctx context.Context, u Upload) error {
	if r.reports != nil {
		rep, err := readReport(ctx, r.blobs, u)
		if err != nil {
			return err
		}
		body, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := r.reports.WriteReport(ctx, u.Account, ReportName(u), append(body, '\n')); err != nil {
			return fmt.Errorf("write report of %s: %w", u.ID, err)
		}
		if rep.ErrorsFile != "" {
			rc, err := r.blobs.Open(ctx, errorsKey(u))
			if err != nil {
				return err
			}
			// Bounded by the stages' problem limits (max_errors per file).
			content, err := io.ReadAll(io.LimitReader(rc, 64<<20))
			rc.Close()
			if err != nil {
				return err
			}
			if err := r.reports.WriteReport(ctx, u.Account, ErrorsName(u), content); err != nil {
				return fmt.Errorf("write errors of %s: %w", u.ID, err)
			}
		} else if err := r.reports.RemoveReport(ctx, u.Account, ErrorsName(u)); err != nil {
			return err
		}
	}
	if u.ArchivedAt != nil {
		return nil
	}
	_, err := r.archiveOriginal(ctx, u)
	return err
}

// deliverPending delivers the finished uploads this node received whose
// attempt another node's worker finished, and any a crash left undelivered.
func (r *Runner) deliverPending(ctx context.Context) (int, error) {
	batch, err := queryUploads(ctx, r.db, `SELECT `+uploadColumns+` FROM uploads
		WHERE node = $1 AND finished_at IS NOT NULL AND archived_at IS NULL AND purged_at IS NULL ORDER BY id LIMIT 100`, r.node)
	if err != nil {
		return 0, fmt.Errorf("read undelivered uploads: %w", err)
	}
	n := 0
	for _, u := range batch {
		err := r.deliver(ctx, u)
		if errors.Is(err, fs.ErrNotExist) {
			continue // its finisher is still writing the reports
		}
		if err != nil {
			return n, fmt.Errorf("deliver upload %s: %w", u.ID, err)
		}
		n++
	}
	return n, nil
}

// writeReports writes the attempt's report and errors blobs unless a
// previous finish did.
func (r *Runner) writeReports(ctx context.Context, u Upload, files []File) error {
	if _, err := readReport(ctx, r.blobs, u); !errors.Is(err, fs.ErrNotExist) {
		return err // written already (nil), or unreadable
	}
	rep := buildReport(u, files)
	hasErrors, err := r.writeErrors(ctx, u, files)
	if err != nil {
		return err
	}
	if hasErrors {
		rep.ErrorsFile = ErrorsName(u)
	}
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	w, err := r.blobs.Create(ctx, reportKey(u))
	if err != nil {
		return err
	}
	if _, err := w.Write(append(body, '\n')); err != nil {
		_ = w.Abort()
		return err
	}
	return w.Commit()
}

// readReport reads the report blob of u's current attempt.
func readReport(ctx context.Context, blobs Blobs, u Upload) (Report, error) {
	rc, err := blobs.Open(ctx, reportKey(u))
	if err != nil {
		return Report{}, err
	}
	defer rc.Close()
	var rep Report
	if err := json.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(&rep); err != nil {
		return Report{}, fmt.Errorf("read report of %s: %w", u.ID, err)
	}
	return rep, nil
}

// buildReport summarises an attempt's final files.
func buildReport(u Upload, files []File) Report {
	rep := Report{
		UploadID: u.ID, Account: u.Account, Feed: u.Feed, UploadName: u.Name(), Path: u.Path,
		Size: u.Size, SHA256: u.SHA256, Status: u.Status, Attempt: u.Attempt, DryRun: u.DryRun(),
		Error: u.Error, ReceivedAt: u.ReceivedAt, Chain: []string{}, Files: []ReportFile{},
	}
	if u.FinishedAt != nil {
		rep.FinishedAt = *u.FinishedAt
	}
	for _, f := range files {
		if !f.Leaf() {
			continue
		}
		rf := ReportFile{ID: f.ID, Name: f.Name, Chain: f.Chain, Status: f.Status, Rows: f.Rows,
			Columns: f.Columns, Error: f.Error}
		if rf.Columns == nil {
			rf.Columns = []string{}
		}
		if res := f.Object.Result; res != nil {
			rf.RejectedRows, rf.Warnings = res.Rejected, res.Warnings
			rf.Errors, rf.ErrorsTotal = res.Problems, res.ProblemsN
		}
		if f.Status != FileReady && rf.ErrorsTotal == 0 {
			rf.ErrorsTotal = 1
		}
		if len(f.Chain) > len(rep.Chain) {
			rep.Chain = f.Chain
		}
		rep.Files = append(rep.Files, rf)
	}
	return rep
}

// writeErrors writes the attempt's errors blob, line,column,value,message,
// from the problems the csv stage kept for each file, and reports whether
// there were any. A file rejected as a whole (a wrong password, a bad
// header) is a row with line 0 or the line at fault. When several files
// have problems, each message starts with the file's name.
func (r *Runner) writeErrors(ctx context.Context, u Upload, files []File) (bool, error) {
	var withProblems []File
	for _, f := range files {
		if f.Leaf() && (f.Status != FileReady || (f.Object.Result != nil && f.Object.Result.ProblemsKey != "")) {
			withProblems = append(withProblems, f)
		}
	}
	if len(withProblems) == 0 {
		return false, nil
	}
	w, err := r.blobs.Create(ctx, errorsKey(u))
	if err != nil {
		return false, err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"line", "column", "value", "message"})
	prefix := func(f File, msg string) string {
		if len(withProblems) > 1 {
			return f.Name + ": " + msg
		}
		return msg
	}
	for _, f := range withProblems {
		res := f.Object.Result
		if res == nil || res.ProblemsKey == "" {
			_ = cw.Write([]string{"0", "", "", prefix(f, f.Error)})
			continue
		}
		if err := copyProblems(ctx, r.blobs, res.ProblemsKey, cw, func(m string) string { return prefix(f, m) }); err != nil {
			_ = w.Abort()
			return false, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		_ = w.Abort()
		return false, err
	}
	return true, w.Commit()
}

// copyProblems copies the rows of a problems blob (with its header) to cw.
func copyProblems(ctx context.Context, blobs Blobs, key string, cw *csv.Writer, msg func(string) string) error {
	rc, err := blobs.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("read problems: %w", err)
	}
	defer rc.Close()
	cr := csv.NewReader(rc)
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read problems %q: %w", key, err)
		}
		if first {
			continue
		}
		rec[3] = msg(rec[3])
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
}

// archiveOriginal takes the upload out of the customer's tree: the file is
// removed where it still is the upload (a newer upload of the same name is
// left alone); the blob keeps it for the archive period. It reports whether
// this call marked the attempt archived.
func (r *Runner) archiveOriginal(ctx context.Context, u Upload) (bool, error) {
	same := false
	if st, ok := r.blobs.(blob.Stater); ok {
		var err error
		if same, err = st.SameFile(ctx, UploadBlobKey(u.ID), u.File); err != nil {
			return false, err
		}
	} else if fi, err := os.Stat(u.File); err == nil {
		// No inode to compare: the file is the upload if nothing was
		// written to it since it was received.
		same = fi.Size() == u.Size && !fi.ModTime().After(u.ReceivedAt)
	}
	if same {
		if err := os.Remove(u.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("archive upload %s: %w", u.ID, err)
		}
	}
	res, err := r.db.ExecContext(ctx, `UPDATE uploads SET archived_at = $1 WHERE id = $2 AND attempt = $3 AND archived_at IS NULL`,
		r.now().UnixMicro(), u.ID, u.Attempt)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UploadReport returns the report of upload id's current attempt, and
// whether it has an errors file. An upload still in the pipeline has none
// yet: an error wrapping credentials.ErrNotFound. It is safe for concurrent
// use.
func (in *Intake) UploadReport(ctx context.Context, id string) (Report, error) {
	u, err := in.Upload(ctx, id)
	if err != nil {
		return Report{}, err
	}
	rep, err := readReport(ctx, in.blobs, u)
	if errors.Is(err, fs.ErrNotExist) {
		return Report{}, fmt.Errorf("report of upload %s: the upload is %s: %w", id, u.Status, errNoReport)
	}
	return rep, err
}

// UploadErrors opens the errors file (line,column,value,message CSV) of
// upload id's current attempt; an upload without one is an error wrapping
// credentials.ErrNotFound. The caller closes the reader.
func (in *Intake) UploadErrors(ctx context.Context, id string) (io.ReadCloser, error) {
	u, err := in.Upload(ctx, id)
	if err != nil {
		return nil, err
	}
	rc, err := in.blobs.Open(ctx, errorsKey(u))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("errors of upload %s: %w", id, errNoReport)
	}
	return rc, err
}

// FileContent opens the content of file id when it is a ready CSV: the
// normalised CSV that importers fetch. Any other file is an error wrapping
// credentials.ErrNotFound. The caller closes the reader.
func (in *Intake) FileContent(ctx context.Context, id string) (File, io.ReadCloser, error) {
	f, err := in.File(ctx, id)
	if err != nil {
		return File{}, nil, err
	}
	if f.Status != FileReady {
		return File{}, nil, fmt.Errorf("file %s is %s, only ready files have content: %w", id, f.Status, errNoReport)
	}
	rc, err := in.blobs.Open(ctx, f.Object.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, nil, fmt.Errorf("file %s: its content was removed after the archive period: %w", id, errNoReport)
	}
	if err != nil {
		return File{}, nil, err
	}
	return f, rc, nil
}

// errNoReport is what a missing report, errors file or content wraps: the
// admin API answers 404.
var errNoReport = credentials.ErrNotFound
