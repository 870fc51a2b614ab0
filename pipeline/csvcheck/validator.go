package csvcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
)

// Validator checks CSV streams against one feed's schema and policy. It is
// immutable and safe for concurrent use: each Validate call keeps its own
// state.
type Validator struct {
	cfg     Config
	feed    credentials.Feed
	columns []*column
	byName  map[string]int // lower-case name → index in columns
	names   []string
}

// NewValidator compiles feed's schema, which credentials has normalised and
// checked. An unusable schema is an error wrapping ErrFeedSchema.
func NewValidator(cfg Config, feed credentials.Feed) (*Validator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Validator{cfg: cfg, feed: feed, byName: make(map[string]int, len(feed.Schema.Columns))}
	if len(feed.Schema.Columns) == 0 {
		return nil, fmt.Errorf("%w: feed %q has no columns", ErrFeedSchema, feed.Name)
	}
	switch feed.Schema.Delimiter {
	case "", "auto", ",", ";", "\t", "|":
	default:
		return nil, fmt.Errorf("%w: feed %q: delimiter %q", ErrFeedSchema, feed.Name, feed.Schema.Delimiter)
	}
	switch feed.Schema.Encoding {
	case "", "utf-8", "windows-1252", "latin-1":
	default:
		return nil, fmt.Errorf("%w: feed %q: encoding %q", ErrFeedSchema, feed.Name, feed.Schema.Encoding)
	}
	for i, c := range feed.Schema.Columns {
		col, err := compileColumn(c)
		if err != nil {
			return nil, fmt.Errorf("%w: feed %q: %w", ErrFeedSchema, feed.Name, err)
		}
		key := strings.ToLower(strings.TrimSpace(c.Name))
		if _, dup := v.byName[key]; dup {
			return nil, fmt.Errorf("%w: feed %q: column %q twice", ErrFeedSchema, feed.Name, c.Name)
		}
		v.byName[key] = i
		v.columns = append(v.columns, col)
		v.names = append(v.names, col.name)
	}
	return v, nil
}

// run is the state of one Validate call.
type run struct {
	v       *Validator
	rep     *Report
	sc      *scanner
	utf8    bool
	cols    []*column    // per header position; nil for extra columns
	names   []string     // per header position, as normalised
	uniques []*uniqueSet // per header position; nil unless unique
	nUnique int
	out     *csvWriter // nil once nothing more is written
	errs    int        // errors gathered
	warns   int        // warnings gathered
	bad     bool       // the current row has an error
}

// Validate reads a CSV file from r, checks it against the schema and writes
// the accepted rows to out (when not nil) as normalised UTF-8 CSV: header
// first, ',' delimiters, LF line ends, RFC 4180 quoting. Rows reach out as
// they are found: when the report rejects the file, the caller discards
// what out received.
//
// A file that is bad as a whole — binary, a line too long, a header that
// does not fit, rows in error under the feed's policy — gives a Report
// whose Err says why, and a nil error. The error is for faults of r, out or
// ctx only. Validate blocks until r is read or reading stops; memory stays
// bounded by Config whatever the input.
func (v *Validator) Validate(ctx context.Context, r io.Reader, out io.Writer) (*Report, error) {
	run := &run{v: v, rep: &Report{}, utf8: v.feed.Schema.Encoding == "" || v.feed.Schema.Encoding == "utf-8"}
	err := run.do(ctx, r, out)
	var rej *rejection
	if errors.As(err, &rej) {
		run.rep.Err = rej
		run.rep.Rows = 0
		if rej.kind != ErrRowErrors && rej.kind != ErrErrorRate {
			// The rows' own problems explain those; anything else gets a
			// line of its own in the errors report.
			run.rep.Problems = append(run.rep.Problems, Problem{Problem: pipeline.Problem{Line: rej.line, Message: rej.msg}, Err: rej.kind})
		}
		return run.rep, nil
	}
	if err != nil {
		return nil, err
	}
	return run.rep, nil
}

// checkEvery is how many records pass between two looks at ctx.
const checkEvery = 4096

func (r *run) do(ctx context.Context, in io.Reader, out io.Writer) error {
	v, rep := r.v, r.rep
	text, err := openText(in, v.feed.Schema.Encoding)
	if err != nil {
		return err
	}
	r.sc = newScanner(text, v.cfg.MaxLineBytes)
	head, err := r.sc.head()
	if err != nil {
		return err
	}
	switch d := v.feed.Schema.Delimiter; d {
	case "", "auto":
		r.sc.delim = detectDelimiter(head, v.byName)
	default:
		r.sc.delim = d[0]
	}
	rep.Delimiter = r.sc.delim
	if err := r.header(); err != nil {
		return err
	}
	rep.Columns = r.names
	for _, u := range r.uniques {
		if u != nil {
			r.nUnique++
		}
	}
	if out != nil {
		r.out = newCSVWriter(out)
		if err := r.out.write(toBytes(r.names)); err != nil {
			return fmt.Errorf("write accepted rows: %w", err)
		}
	}
	rejectFile := v.feed.OnError != "skip_rows"
	for {
		if rep.Total%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("validate csv: %w", err)
			}
		}
		ok, err := r.sc.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		rep.Total++
		if err := r.record(); err != nil {
			return err
		}
		if !r.bad {
			var err error
			switch {
			case r.out == nil:
			case r.sc.plain:
				err = r.out.writePlain(r.sc.raw, r.sc.fields, r.sc.delim)
			default:
				err = r.out.write(r.sc.fields)
			}
			if err != nil {
				return fmt.Errorf("write accepted rows: %w", err)
			}
			continue
		}
		rep.Rejected++
		if rejectFile {
			r.out = nil
			if r.errs >= v.cfg.MaxErrors {
				return reject(ErrRowErrors, "at least %d data rows have errors (reading stopped after %d errors, at line %d); the feed rejects a file with any error (on_error: reject_file)",
					rep.Rejected, r.errs, r.sc.start)
			}
		}
	}
	if rep.Rejected > 0 {
		if rejectFile {
			return reject(ErrRowErrors, "%d of %d data rows have errors; the feed rejects a file with any error (on_error: reject_file)", rep.Rejected, rep.Total)
		}
		if rate := float64(rep.Rejected) / float64(rep.Total); rate > v.feed.MaxErrorRate {
			return reject(ErrErrorRate, "%d of %d data rows (%.2f%%) have errors, more than the feed allows (max_error_rate %.2f%%)",
				rep.Rejected, rep.Total, 100*rate, 100*v.feed.MaxErrorRate)
		}
	}
	rep.Rows = rep.Total - rep.Rejected
	if r.out != nil {
		if err := r.out.flush(); err != nil {
			return fmt.Errorf("write accepted rows: %w", err)
		}
	}
	return nil
}

func toBytes(ss []string) [][]byte {
	b := make([][]byte, len(ss))
	for i, s := range ss {
		b[i] = []byte(s)
	}
	return b
}

// record checks the current record, setting r.bad when it has an error. It
// returns a rejection only when a uniqueness set is full.
func (r *run) record() error {
	sc, line := r.sc, r.sc.start
	r.bad = false
	switch {
	case bytes.IndexByte(sc.raw, 0) >= 0:
		r.fail(line, "", sc.raw, ErrNUL, "the line holds a NUL byte: binary data, not text")
		return nil
	case !utf8.Valid(sc.raw):
		for i, f := range sc.fields {
			if !utf8.Valid(f) {
				r.fail(line, r.name(i), f, ErrInvalidUTF8, "invalid UTF-8"+r.encodingHint())
				return nil
			}
		}
		r.fail(line, "", sc.raw, ErrInvalidUTF8, "invalid UTF-8"+r.encodingHint())
		return nil
	case sc.badQuote >= 0:
		r.fail(line, r.name(sc.badQuote), sc.fields[sc.badQuote], ErrBareQuote,
			`misplaced quote: a field with quotes must be enclosed in quotes as a whole, with the quotes inside it doubled ("")`)
		return nil
	case len(sc.fields) != len(r.cols):
		r.fail(line, "", sc.raw, ErrRagged, fmt.Sprintf("the row has %d %s, the header has %d", len(sc.fields), plural(len(sc.fields), "field", "fields"), len(r.cols)))
		return nil
	}
	maxField := r.v.cfg.MaxFieldBytes
	for i, f := range sc.fields {
		col := r.cols[i]
		switch {
		case len(f) > maxField:
			r.fail(line, r.names[i], f, ErrFieldTooLong, fmt.Sprintf("the field is longer than %d bytes", maxField))
		case col == nil:
			if isFormula(f) {
				r.warn(line, r.names[i], f, ErrFormula, "starts like a spreadsheet formula (=, +, -, @): a spreadsheet opening the file may run it")
			}
		case isBlank(f):
			if col.required {
				r.fail(line, col.name, f, ErrRequired, "a value is required")
			}
		case !col.valid(f):
			r.fail(line, col.name, f, ErrInvalidValue, col.invalid)
		case col.maxLen > 0 && len(f) > col.maxLen && utf8.RuneCount(f) > col.maxLen:
			r.fail(line, col.name, f, ErrValueTooLong, fmt.Sprintf("longer than the column's maximum of %d characters", col.maxLen))
		case col.kind == kindString && isFormula(f):
			r.warn(line, col.name, f, ErrFormula, "starts like a spreadsheet formula (=, +, -, @): a spreadsheet opening the file may run it")
		}
	}
	if r.bad || r.nUnique == 0 {
		return nil
	}
	return r.unique()
}

// unique checks and records the values of unique columns of a row that is
// otherwise valid, so that the accepted rows never repeat a value. Blank
// values of optional columns are not compared (like SQL NULLs).
func (r *run) unique() error {
	fields, line := r.sc.fields, r.sc.start
	if r.nUnique > 1 {
		// A row rejected for one column must not record its others.
		for i, u := range r.uniques {
			if u != nil && !isBlank(fields[i]) && r.has(u, i, fields[i]) {
				r.fail(line, r.names[i], fields[i], ErrDuplicate, "duplicate value in a unique column: an earlier row has it")
			}
		}
		if r.bad {
			return nil
		}
	}
	for i, u := range r.uniques {
		if u == nil || isBlank(fields[i]) {
			continue
		}
		var dup, full bool
		if r.cols[i].kind == kindInteger {
			n, _ := parseInt(fields[i])
			dup, full = u.addInt(n)
		} else {
			dup, full = u.addBytes(fields[i])
		}
		switch {
		case full:
			return rejectAt(ErrTooManyUnique, line,
				"line %d: column %q must be unique and has more than %d distinct values, more than can be checked (an administrator can raise pipeline.csvcheck.max_unique_values)",
				line, r.names[i], u.max)
		case dup:
			r.fail(line, r.names[i], fields[i], ErrDuplicate, "duplicate value in a unique column: an earlier row has it")
		}
	}
	return nil
}

func (r *run) has(u *uniqueSet, i int, f []byte) bool {
	if r.cols[i].kind == kindInteger {
		n, _ := parseInt(f)
		return u.hasInt(n)
	}
	return u.hasBytes(f)
}

// name is the name of the column at header position i, "" past the header.
func (r *run) name(i int) string {
	if i < len(r.names) {
		return r.names[i]
	}
	return ""
}

// fail records an error of the current row.
func (r *run) fail(line int64, column string, value []byte, kind error, msg string) {
	r.bad = true
	if r.errs >= r.v.cfg.MaxErrors {
		return
	}
	r.errs++
	r.rep.Problems = append(r.rep.Problems, Problem{
		Problem: pipeline.Problem{Line: line, Column: column, Value: excerpt(value), Message: msg},
		Err:     kind,
	})
}

// warn records a warning.
func (r *run) warn(line int64, column string, value []byte, kind error, msg string) {
	r.rep.Warnings++
	if r.warns >= r.v.cfg.MaxWarnings {
		return
	}
	r.warns++
	r.rep.Problems = append(r.rep.Problems, Problem{
		Problem: pipeline.Problem{Line: line, Column: column, Value: excerpt(value), Message: msg, Warning: true},
		Err:     kind,
	})
}
