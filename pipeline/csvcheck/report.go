package csvcheck

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/pipeline"
)

// Report is the outcome of validating one CSV stream.
type Report struct {
	// Err is why the file is rejected as a whole; nil when it is accepted.
	// It wraps one of the file-level sentinels (ErrNotText …
	// ErrErrorRate), and its message is written for the customer.
	Err error
	// Rows counts the data rows accepted (header excluded): all of them,
	// those without errors under skip_rows, none when the file is rejected.
	Rows int64
	// Total counts the data rows read; reading may stop early (max_errors
	// under reject_file, a line too long).
	Total int64
	// Rejected counts the data rows in error.
	Rejected int64
	// Warnings counts the warnings, gathered or not.
	Warnings int64
	// Columns are the header's names as normalised: trimmed, spelled as in
	// the schema; extra columns as trimmed.
	Columns []string
	// Delimiter is the input's delimiter, detected or fixed by the feed.
	Delimiter byte
	// Problems are the errors (at most max_errors) and warnings (at most
	// max_warnings) gathered, in the order of the file. A file-level
	// rejection comes last.
	Problems []Problem
}

// Problem is one error or warning with its cause.
type Problem struct {
	pipeline.Problem
	// Err is the sentinel that classifies the problem (ErrRagged,
	// ErrInvalidValue, ErrFormula …); errors.Is works on it.
	Err error
}

// Accepted reports whether the file is accepted.
func (r *Report) Accepted() bool { return r.Err == nil }

// Result returns the report as a pipeline.Result whose ProblemsKey is
// problemsKey. Its Problems are the first errors, then the first warnings,
// at most pipeline.MaxProblemsInResult in all.
func (r *Report) Result(problemsKey string) *pipeline.Result {
	res := &pipeline.Result{
		Accepted:  r.Err == nil,
		Rows:      r.Rows,
		Rejected:  r.Rejected,
		Columns:   r.Columns,
		Warnings:  r.Warnings,
		ProblemsN: int64(len(r.Problems)),
	}
	if res.Columns == nil {
		res.Columns = []string{}
	}
	if r.Err != nil {
		res.Reason = r.Err.Error()
	}
	if len(r.Problems) > 0 {
		res.ProblemsKey = problemsKey
	}
	for _, warnings := range []bool{false, true} {
		for _, p := range r.Problems {
			if p.Warning == warnings && len(res.Problems) < pipeline.MaxProblemsInResult {
				res.Problems = append(res.Problems, p.Problem)
			}
		}
	}
	return res
}

// WriteProblems writes r's problems to w as CSV with the header
// line,column,value,message. Warnings' messages start with "warning: ".
// Values that a spreadsheet would read as a formula get a leading ' (the
// customer opens this file in one).
func (r *Report) WriteProblems(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"line", "column", "value", "message"}); err != nil {
		return err
	}
	for _, p := range r.Problems {
		msg := p.Message
		if p.Warning {
			msg = "warning: " + msg
		}
		value := p.Value
		if isFormula([]byte(value)) {
			value = "'" + value
		}
		if err := cw.Write([]string{strconv.FormatInt(p.Line, 10), p.Column, value, msg}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// maxExcerpt is the length of a value excerpt in characters.
const maxExcerpt = 60

// excerpt returns at most maxExcerpt characters of b as valid UTF-8: line
// breaks shown as ↵, invalid bytes and other control characters as U+FFFD,
// and a cut value ending in "…".
func excerpt(b []byte) string {
	var sb strings.Builder
	cut := -1 // length of sb after maxExcerpt-1 characters
	for n := 0; len(b) > 0; n++ {
		if n == maxExcerpt-1 {
			cut = sb.Len()
		}
		if n == maxExcerpt {
			return sb.String()[:cut] + "…"
		}
		r, size := utf8.DecodeRune(b)
		switch {
		case r == '\n':
			r = '↵'
		case r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			r = utf8.RuneError
		}
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}
