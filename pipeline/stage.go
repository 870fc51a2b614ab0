package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/sluicehq/sluice/blob"
)

// Object is one file at one point of the pipeline: a reference to its bytes
// in the blob store and what is known about it. Task messages carry Objects,
// never file bytes. An Object is a value; stages return new ones.
type Object struct {
	ID       string `json:"id"`                  // file id: the upload id for the upload itself, ChildID for outputs
	UploadID string `json:"upload_id"`           //
	ParentID string `json:"parent_id,omitempty"` // the Object this one was made from
	Account  string `json:"account"`             //
	Feed     string `json:"feed"`                // "" when no feed's folder holds the upload
	Name     string `json:"name"`                // file name at this point: as uploaded, the entry of a ZIP, the name inside OpenPGP
	Key      string `json:"key"`                 // blob key of the content
	Size     int64  `json:"size"`                //
	SHA256   string `json:"sha256"`              // hex
	// Chain lists the stages the content came through, e.g. ["pgp","zip"];
	// csvcheck appends "csv".
	Chain []string `json:"chain"`
	// Encrypted is set once the content came out of OpenPGP decryption or
	// an encrypted ZIP entry (feeds may require it).
	Encrypted bool `json:"encrypted,omitempty"`
	// Signer is the fingerprint of the verified OpenPGP signature along the
	// chain, "" when none.
	Signer string `json:"signer,omitempty"`
	// Result is set by the final stage (csvcheck); nil before.
	Result *Result `json:"result,omitempty"`
}

// Depth is how many stages the content came through.
func (o Object) Depth() int { return len(o.Chain) }

// Result is the outcome of validating a CSV.
type Result struct {
	Accepted bool     `json:"accepted"` // ready (true) or rejected (false)
	Rows     int64    `json:"rows"`     // data rows accepted (header excluded)
	Rejected int64    `json:"rejected"` // data rows rejected (skip_rows) or in error
	Columns  []string `json:"columns"`  // header names as normalised
	Warnings int64    `json:"warnings"` // e.g. formula-like cells
	// Reason says why a file was rejected as a whole, "" otherwise.
	Reason string `json:"reason,omitempty"`
	// Problems are the first problems found (at most MaxProblemsInResult);
	// ProblemsKey is the blob holding all of them as
	// line,column,value,message CSV, "" when there were none.
	Problems    []Problem `json:"problems,omitempty"`
	ProblemsKey string    `json:"problems_key,omitempty"`
	ProblemsN   int64     `json:"problems_total"`
}

// MaxProblemsInResult bounds Result.Problems; the blob has them all (up to
// the stage's own limit).
const MaxProblemsInResult = 20

// Problem is one error or warning found in a CSV. Line is the physical line
// of the file as uploaded where the record starts, the header being line 1.
type Problem struct {
	Line    int64  `json:"line"`
	Column  string `json:"column,omitempty"`
	Value   string `json:"value,omitempty"` // an excerpt of at most 60 characters
	Message string `json:"message"`
	Warning bool   `json:"warning,omitempty"`
}

// Stage is one step of the pipeline. Process reads in's content from the
// blob store and returns the Objects it made: none drops the input, several
// fan out (the entries of a ZIP). Outputs are written to the blob store
// under keys derived from in.ID, so that running Process again on the same
// input (a redelivery) writes the same keys and returns equal Objects.
//
// Process returns Permanent(err) for bad input — the file is rejected with
// err's message, which the customer reads — and any other error for internal
// faults, which are retried. Stages never import NATS or one another.
type Stage interface {
	// Name is the stage's name in chains and metrics: pgp, zip or csv.
	Name() string
	Process(ctx context.Context, in Object) ([]Object, error)
}

// permanentError marks bad input: retrying cannot help.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as caused by bad input: the runner rejects the file
// with err's message instead of retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// ChildID derives the id of an output from its parent's id, the stage and
// the output's name (or index), so that a redelivered input yields the same
// ids.
func ChildID(parentID, stage, name string) string {
	h := sha256.Sum256([]byte(parentID + "\x00" + stage + "\x00" + name))
	return hex.EncodeToString(h[:12])
}

// Blobs stores file contents by key; see blob.Store. Stages take it from the
// runner's wiring and never know where the bytes live.
type Blobs = blob.Store

// BlobWriter writes one blob; see blob.Writer.
type BlobWriter = blob.Writer
