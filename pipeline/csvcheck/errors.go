package csvcheck

import (
	"errors"
	"fmt"
)

// Causes of a whole file's rejection. Report.Err wraps exactly one of them;
// its message, which the customer reads, names the line and the detail.
var (
	// ErrNoFeed: the upload lies outside every feed's folder.
	ErrNoFeed = errors.New("no feed is configured for this folder")
	// ErrFeedGone: the feed that held the upload was deleted before the
	// file was validated.
	ErrFeedGone = errors.New("the feed no longer exists")
	// ErrFeedSchema: the feed's schema cannot be used (an administrator
	// must fix the feed).
	ErrFeedSchema = errors.New("the feed's schema is invalid")
	// ErrUnencrypted: the feed requires encryption and the file arrived in
	// clear.
	ErrUnencrypted = errors.New("the feed requires encrypted uploads")
	// ErrUnsigned: the feed requires an OpenPGP signature and the file
	// carried no verified one.
	ErrUnsigned = errors.New("the feed requires signed uploads")
	// ErrEmpty: the file has no bytes, or no header row.
	ErrEmpty = errors.New("the file is empty")
	// ErrNotText: the file is binary (NUL bytes in its first block, or
	// UTF-16), not CSV text.
	ErrNotText = errors.New("binary file, not CSV text")
	// ErrLineTooLong: a record is longer than max_line_bytes. Reading stops
	// there: memory stays bounded whatever follows.
	ErrLineTooLong = errors.New("line too long")
	// ErrUnterminatedQuote: the file ends inside a quoted field.
	ErrUnterminatedQuote = errors.New("unterminated quoted field")
	// ErrLineBreaks: the file breaks lines with a bare CR (classic Mac OS).
	ErrLineBreaks = errors.New("unsupported line breaks")
	// ErrMissingColumns: the header lacks required columns of the schema.
	// As a warning, it names optional columns that are absent.
	ErrMissingColumns = errors.New("missing columns")
	// ErrUnknownColumns: the header has columns the schema does not know
	// and the feed does not allow extra columns.
	ErrUnknownColumns = errors.New("unknown columns")
	// ErrBadHeader: the header names a column twice, has too many columns
	// or a misplaced quote.
	ErrBadHeader = errors.New("bad header")
	// ErrTooManyUnique: a unique column has more distinct values than the
	// uniqueness check may hold in memory (max_unique_values).
	ErrTooManyUnique = errors.New("too many values to check for uniqueness")
	// ErrRowErrors: rows have errors and the feed's on_error is
	// reject_file.
	ErrRowErrors = errors.New("rows have errors")
	// ErrErrorRate: under on_error skip_rows, the share of rows in error is
	// above the feed's max_error_rate.
	ErrErrorRate = errors.New("too many rows have errors")
)

// Problems of one row (Problem.Err) or, for warnings, of one cell.
var (
	// ErrInvalidUTF8: the row is not valid UTF-8 (as a rejection: the
	// header).
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrNUL: the row holds a NUL byte.
	ErrNUL = errors.New("NUL byte")
	// ErrFieldTooLong: a field is longer than max_field_bytes.
	ErrFieldTooLong = errors.New("field too long")
	// ErrBareQuote: a quote inside an unquoted field, or text after a
	// closing quote (RFC 4180 section 2).
	ErrBareQuote = errors.New("misplaced quote")
	// ErrRagged: the row has more or fewer fields than the header.
	ErrRagged = errors.New("wrong number of fields")
	// ErrRequired: a required column is empty.
	ErrRequired = errors.New("required value missing")
	// ErrInvalidValue: a value does not have its column's type.
	ErrInvalidValue = errors.New("invalid value")
	// ErrValueTooLong: a value is longer than its column's max_length.
	ErrValueTooLong = errors.New("value too long")
	// ErrDuplicate: a unique column repeats a value.
	ErrDuplicate = errors.New("duplicate value")
	// ErrFormula: a text cell starts like a spreadsheet formula (=, +, -,
	// @). Only ever a warning.
	ErrFormula = errors.New("formula-like value")
)

// rejection is why a whole file is rejected: one of the sentinels above, a
// message for the customer, and the line it concerns (0: the whole file).
type rejection struct {
	kind error
	line int64
	msg  string
}

func (e *rejection) Error() string { return e.msg }
func (e *rejection) Unwrap() error { return e.kind }

// reject returns a rejection of the whole file.
func reject(kind error, format string, args ...any) error {
	return &rejection{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// rejectAt returns a rejection caused by the record starting at line; the
// message names the line itself.
func rejectAt(kind error, line int64, format string, args ...any) error {
	return &rejection{kind: kind, line: line, msg: fmt.Sprintf(format, args...)}
}

// isRejection reports whether err is a rejection rather than an internal
// fault.
func isRejection(err error) bool {
	var r *rejection
	return errors.As(err, &r)
}
