package csvcheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

// wantProblem is a problem a test expects, matched on line, column, cause
// and a part of the message.
type wantProblem struct {
	line    int64
	column  string
	err     error
	message string
}

// TestValidateBadInput holds one case per bad input of issue 4's CSV list,
// and the other ways a file goes wrong, each asserting its specific cause.
func TestValidateBadInput(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 1; b.Len() < 2*sniffLen; i++ {
		b.WriteString(itoa(i) + ",name\n")
	}
	nulAfterHead := b.String()
	nulLine := int64(strings.Count(nulAfterHead, "\n")) + 1
	nulAfterHead += "99999,bad\x00name\n"
	tests := []struct {
		name     string
		feed     func(*credentials.Feed)
		cfg      func(*Config)
		input    string
		err      error  // the file-level cause; nil: accepted
		reason   string // part of Err's message
		problems []wantProblem
		rows     int64
		out      string // "" : not checked
		warnings int64
	}{
		{
			name:  "BOM with CRLF",
			input: "\xef\xbb\xbfid,name\r\n1,Ann\r\n2,Bob\r\n",
			rows:  2,
			out:   "id,name\n1,Ann\n2,Bob\n",
		},
		{
			name:  "semicolon delimiter",
			input: "id;name\n1;Smith, Ann\n2;Bob\n",
			rows:  2,
			out:   "id,name\n1,\"Smith, Ann\"\n2,Bob\n",
		},
		{
			name:  "tab delimiter",
			input: "id\tname\n1\tAnn\n2\t\"Bob \"\"B\"\"\"\n",
			rows:  2,
			out:   "id,name\n1,Ann\n2,\"Bob \"\"B\"\"\"\n",
		},
		{
			name:  "quoted newline keeps line numbers",
			input: "id,name\n1,\"two\nlines\"\n2,\"three\r\nline\r\nnote\"\nx,after\n",
			err:   ErrRowErrors, reason: "1 of 3 data rows have errors",
			problems: []wantProblem{{line: 7, column: "id", err: ErrInvalidValue, message: "not an integer"}},
		},
		{
			name:  "quoted newline accepted and normalised",
			input: "id,name\r\n1,\"two\r\nlines\"\r\n2,b\r\n",
			rows:  2,
			out:   "id,name\n1,\"two\nlines\"\n2,b\n",
		},
		{
			name:   "unterminated quote",
			input:  "id,name\n1,Ann\n2,\"Bob\n3,Cy\n",
			err:    ErrUnterminatedQuote,
			reason: "line 3: a quoted field opened on line 3 is never closed",
		},
		{
			name:  "invalid UTF-8 at line 4",
			input: "id,name\n1,Ann\n2,Bob\n3,M\xfcller\n4,Dee\n",
			err:   ErrRowErrors,
			problems: []wantProblem{{line: 4, column: "name", err: ErrInvalidUTF8,
				message: "invalid UTF-8 (the feed expects UTF-8: is the file in windows-1252 or latin-1?"}},
		},
		{
			name:   "invalid UTF-8 in the header",
			input:  "id,n\xe4me\n1,a\n",
			err:    ErrInvalidUTF8,
			reason: "line 1: the header is not valid UTF-8",
		},
		{
			name:   "NUL bytes in the first block",
			input:  "id,name\n1,a\x00b\n",
			err:    ErrNotText,
			reason: "binary file, not CSV text",
		},
		{
			name:     "NUL byte further on",
			input:    nulAfterHead,
			err:      ErrRowErrors,
			problems: []wantProblem{{line: nulLine, err: ErrNUL, message: "NUL byte"}},
		},
		{
			name:   "binary without NUL bytes",
			input:  "%PDF-1.7\n%\xe2\xe3\xcf\xd3\nstream\nx\x9c\x03\x05\x1b\x7f\x10\x11\x02\x18\x1f\n",
			err:    ErrNotText,
			reason: "binary file, not CSV text: 9 of its first 34 bytes are control characters",
		},
		{
			name:  "a DOS end-of-file mark is not binary, nor a row",
			input: "id,name\r\n1,a\r\n2,b\r\n\x1a",
			rows:  2,
			out:   "id,name\n1,a\n2,b\n",
		},
		{
			name:   "UTF-16",
			input:  "\xff\xfei\x00d\x00\n\x00",
			err:    ErrNotText,
			reason: "UTF-16",
		},
		{
			name:  "ragged rows",
			input: "id,name\n1,a\n2,b,extra\n3\n4,d\n",
			err:   ErrRowErrors,
			problems: []wantProblem{
				{line: 3, err: ErrRagged, message: "the row has 3 fields, the header has 2"},
				{line: 4, err: ErrRagged, message: "the row has 1 field, the header has 2"},
			},
		},
		{
			name:   "header without a required column",
			feed:   func(f *credentials.Feed) { *f = ordersFeed() },
			input:  "email,amount,day,tier\na@example.com,1.5,2024-01-02,gold\n",
			err:    ErrMissingColumns,
			reason: `line 1: the header lacks the required column "id"`,
		},
		{
			name:   "header without a required column but with a near miss",
			feed:   func(f *credentials.Feed) { *f = ordersFeed() },
			input:  "ident,email\n1,a@example.com\n",
			err:    ErrMissingColumns,
			reason: `it has columns the feed does not know: "ident"`,
		},
		{
			name:     "absent optional column is a warning",
			feed:     func(f *credentials.Feed) { *f = ordersFeed() },
			input:    " ID ,Email\n1,a@example.com\n",
			rows:     1,
			out:      "id,email\n1,a@example.com\n",
			warnings: 3,
			problems: []wantProblem{{line: 1, column: "amount", err: ErrMissingColumns, message: "optional column is absent"}},
		},
		{
			name:   "unknown column",
			input:  "id,name,colour\n1,a,red\n",
			err:    ErrUnknownColumns,
			reason: `line 1: the header has a column the feed does not know: "colour"`,
		},
		{
			name:  "extra column allowed and kept",
			feed:  func(f *credentials.Feed) { f.Schema.AllowExtraColumns = true },
			input: "Colour,NAME,id\nred,a,1\n=1+1,b,2\n",
			rows:  2, warnings: 1,
			out:      "Colour,name,id\nred,a,1\n=1+1,b,2\n",
			problems: []wantProblem{{line: 3, column: "Colour", err: ErrFormula}},
		},
		{
			name:   "duplicate header name",
			input:  "id,name,Name\n1,a,b\n",
			err:    ErrBadHeader,
			reason: `names column "Name" twice (columns 2 and 3`,
		},
		{
			name:  "duplicate unique keys",
			input: "id,name\n1,a\n2,b\n007,c\n7,d\n1,e\n",
			err:   ErrRowErrors,
			problems: []wantProblem{
				{line: 5, column: "id", err: ErrDuplicate, message: "duplicate value in a unique column"},
				{line: 6, column: "id", err: ErrDuplicate},
			},
		},
		{
			name: "duplicate unique text keys",
			feed: func(f *credentials.Feed) {
				f.Schema.Columns[0].Unique = false
				f.Schema.Columns[1].Unique = true
			},
			input:    "id,name\n1,a\n2,b\n3,a\n4,\n5,\n",
			err:      ErrRowErrors,
			problems: []wantProblem{{line: 4, column: "name", err: ErrDuplicate}},
		},
		{
			name: "formula-like cells are warnings",
			feed: func(f *credentials.Feed) {
				f.Schema.Columns = append(f.Schema.Columns, credentials.Column{Name: "n", Type: "decimal"})
			},
			input: "id,name,n\n1,=SUM(A1),-5\n2,+cmd,1\n3,-x,2\n4,@here,3\n5,-5,-2.5\n6,a=b,+1\n",
			rows:  6, warnings: 4,
			problems: []wantProblem{
				{line: 2, column: "name", err: ErrFormula, message: "starts like a spreadsheet formula"},
				{line: 3, column: "name", err: ErrFormula},
				{line: 4, column: "name", err: ErrFormula},
				{line: 5, column: "name", err: ErrFormula},
			},
		},
		{
			name:  "required value missing",
			input: "id,name\n1,a\n  ,b\n",
			err:   ErrRowErrors,
			problems: []wantProblem{
				{line: 3, column: "id", err: ErrRequired, message: "a value is required"},
			},
		},
		{
			name:     "misplaced quote",
			input:    "id,name\n1,a\"b\n2,\"c\"d\n",
			err:      ErrRowErrors,
			problems: []wantProblem{{line: 2, column: "name", err: ErrBareQuote}, {line: 3, column: "name", err: ErrBareQuote}},
		},
		{
			name:     "field too long",
			cfg:      func(c *Config) { c.MaxFieldBytes = 8 },
			input:    "id,name\n1,abcdefgh\n2,abcdefghi\n",
			err:      ErrRowErrors,
			problems: []wantProblem{{line: 3, column: "name", err: ErrFieldTooLong, message: "longer than 8 bytes"}},
		},
		{
			name:     "value longer than max_length",
			feed:     func(f *credentials.Feed) { f.Schema.Columns[1].MaxLen = 3 },
			input:    "id,name\n1,äöü\n2,abcd\n",
			err:      ErrRowErrors,
			problems: []wantProblem{{line: 3, column: "name", err: ErrValueTooLong, message: "maximum of 3 characters"}},
		},
		{
			name:   "line too long",
			cfg:    func(c *Config) { c.MaxLineBytes, c.MaxFieldBytes = 64, 64 },
			input:  "id,name\n1,a\n2," + strings.Repeat("x", 100) + "\n3,c\n",
			err:    ErrLineTooLong,
			reason: "line 3 is longer than 64 bytes",
		},
		{
			name:   "quoted field running past the line limit",
			cfg:    func(c *Config) { c.MaxLineBytes, c.MaxFieldBytes = 64, 64 },
			input:  "id,name\n1,\"a\n" + strings.Repeat("x\n", 100),
			err:    ErrLineTooLong,
			reason: "a quoted field opened on line 2 is not closed within the limit",
		},
		{
			name:   "empty file",
			input:  "",
			err:    ErrEmpty,
			reason: "the file is empty",
		},
		{
			name:   "blank lines only",
			input:  "\n\r\n\n",
			err:    ErrEmpty,
			reason: "at least a header row",
		},
		{
			name:  "header only",
			input: "id,name\n\n",
			rows:  0,
			out:   "id,name\n",
		},
		{
			name:   "classic Mac line breaks",
			input:  "id,name\r1,a\r2,b\r",
			err:    ErrLineBreaks,
			reason: "bare CR",
		},
		{
			name:   "ZIP archive",
			input:  "PK\x03\x04\x14\x00\x00\x00",
			err:    ErrNotText,
			reason: "ZIP archive",
		},
		{
			name:   "too many unique values",
			cfg:    func(c *Config) { c.MaxUniqueValues = 3 },
			input:  "id,name\n1,a\n3,b\n5,c\n7,d\n",
			err:    ErrTooManyUnique,
			reason: `line 5: column "id" must be unique and has more than 3 distinct values`,
		},
		{
			name:  "skip_rows under max_error_rate",
			feed:  func(f *credentials.Feed) { f.OnError, f.MaxErrorRate = "skip_rows", 0.25 },
			input: "id,name\n1,a\nx,b\n3,c\n4,d\n",
			rows:  3,
			out:   "id,name\n1,a\n3,c\n4,d\n",
			problems: []wantProblem{
				{line: 3, column: "id", err: ErrInvalidValue},
			},
		},
		{
			name:   "skip_rows over max_error_rate",
			feed:   func(f *credentials.Feed) { f.OnError, f.MaxErrorRate = "skip_rows", 0.25 },
			input:  "id,name\n1,a\nx,b\n3,c\ny,d\n",
			err:    ErrErrorRate,
			reason: "2 of 4 data rows (50.00%) have errors, more than the feed allows (max_error_rate 25.00%)",
		},
		{
			name:   "reject_file stops after max_errors",
			cfg:    func(c *Config) { c.MaxErrors = 2 },
			input:  "id,name\nx,a\ny,b\nz,c\nw,d\n",
			err:    ErrRowErrors,
			reason: "at least 2 data rows have errors (reading stopped after 2 errors, at line 3)",
		},
		{
			name:  "windows-1252",
			feed:  func(f *credentials.Feed) { f.Schema.Encoding = "windows-1252" },
			input: "id;name\r\n1;M\xfcller \x80\r\n2;Fran\xe7ois\r\n",
			rows:  2,
			out:   "id,name\n1,Müller €\n2,François\n",
		},
		{
			name:  "latin-1",
			feed:  func(f *credentials.Feed) { f.Schema.Encoding = "latin-1" },
			input: "id,name\n1,Ren\xe9e\n",
			rows:  1,
			out:   "id,name\n1,Renée\n",
		},
		{
			name:  "a UTF-8 BOM wins over a single-byte encoding",
			feed:  func(f *credentials.Feed) { f.Schema.Encoding = "windows-1252" },
			input: "\xef\xbb\xbfid,name\n1,Müller\n",
			rows:  1,
			out:   "id,name\n1,Müller\n",
		},
		{
			name:  "fixed delimiter",
			feed:  func(f *credentials.Feed) { f.Schema.Delimiter = "|" },
			input: "id|name\n1|a,b\n",
			rows:  1,
			out:   "id,name\n1,\"a,b\"\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			feed, cfg := simpleFeed(), DefaultConfig()
			if tc.feed != nil {
				tc.feed(&feed)
			}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			rep, out := validate(t, cfg, feed, tc.input)
			if tc.err == nil {
				require.NoError(t, rep.Err)
				require.True(t, rep.Accepted())
				require.Equal(t, tc.rows, rep.Rows)
			} else {
				require.ErrorIs(t, rep.Err, tc.err)
				require.False(t, rep.Accepted())
				require.Contains(t, rep.Err.Error(), tc.reason)
				require.Zero(t, rep.Rows)
			}
			if tc.out != "" {
				require.Equal(t, tc.out, out)
			}
			require.Equal(t, tc.warnings, rep.Warnings)
			for _, w := range tc.problems {
				require.Truef(t, hasProblem(rep, w), "no problem %+v in %+v", w, rep.Problems)
			}
		})
	}
}

func hasProblem(rep *Report, w wantProblem) bool {
	for _, p := range rep.Problems {
		if p.Line == w.line && p.Column == w.column && errors.Is(p.Err, w.err) && strings.Contains(p.Message, w.message) {
			return true
		}
	}
	return false
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// lineReader produces a header and then one line of n bytes of 'x'
// without holding it in memory.
type lineReader struct {
	head string
	n    int64
}

func (l *lineReader) Read(p []byte) (int, error) {
	if l.head != "" {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	if l.n == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > l.n {
		n = l.n
	}
	for i := range p[:n] {
		p[i] = 'x'
	}
	l.n -= n
	return int(n), nil
}

// TestValidateHugeLine checks that a 100 MiB single line is refused after
// reading about max_line_bytes, in bounded memory, quickly.
func TestValidateHugeLine(t *testing.T) {
	for _, head := range []string{"id,name\n1,", ""} {
		v, err := NewValidator(DefaultConfig(), simpleFeed())
		require.NoError(t, err)
		src := &countingReader{r: &lineReader{head: head, n: 100 << 20}}
		var rep *Report
		start := time.Now()
		mem := measureAlloc(func() {
			rep, err = v.Validate(t.Context(), src, io.Discard)
		})
		t.Logf("refused in %v after reading %d bytes, %d bytes allocated", time.Since(start), src.n, mem)
		require.NoError(t, err)
		require.ErrorIs(t, rep.Err, ErrLineTooLong)
		wantLine := "line 2 is longer than 1048576 bytes"
		if head == "" {
			wantLine = "line 1 is longer than 1048576 bytes"
		}
		require.Contains(t, rep.Err.Error(), wantLine)
		require.Less(t, src.n, int64(3<<20), "read far past the limit")
		require.Less(t, mem, uint64(8<<20), "allocated too much for a 1 MiB limit")
	}
}

// TestValidateCancel checks that a cancelled context stops validation
// with an error, not a report.
func TestValidateCancel(t *testing.T) {
	v, err := NewValidator(DefaultConfig(), simpleFeed())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = v.Validate(ctx, strings.NewReader("id,name\n1,a\n"), io.Discard)
	require.ErrorIs(t, err, context.Canceled)
}

// TestValidateReadError checks that a failing reader is an internal
// fault, not a rejection.
func TestValidateReadError(t *testing.T) {
	v, err := NewValidator(DefaultConfig(), simpleFeed())
	require.NoError(t, err)
	boom := errors.New("disk on fire")
	var long strings.Builder
	long.WriteString("id,name\n")
	for i := range 100000 {
		long.WriteString(itoa(i) + ",a\n")
	}
	for _, r := range []io.Reader{
		io.MultiReader(strings.NewReader("id,name\n1,a\n"), errReader{boom}),
		errReader{boom},
		io.MultiReader(strings.NewReader(long.String()), errReader{boom}),
	} {
		_, err = v.Validate(t.Context(), r, io.Discard)
		require.ErrorIs(t, err, boom)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestValidateProblemsCSV checks the errors report's form, and that
// formula-like values are defused in it.
func TestValidateProblemsCSV(t *testing.T) {
	rep, _ := validate(t, DefaultConfig(), simpleFeed(), "id,name\n=1+2,x\n"+`"`+strings.Repeat("9", 70)+`",y`+"\n")
	var b bytes.Buffer
	require.NoError(t, rep.WriteProblems(&b))
	require.Equal(t, "line,column,value,message\n"+
		"2,id,'=1+2,\"not an integer: digits with an optional sign, at most 9223372036854775807 either way\"\n"+
		"3,id,"+strings.Repeat("9", 59)+"…,\"not an integer: digits with an optional sign, at most 9223372036854775807 either way\"\n", b.String())
}

// TestValidateWriteError checks that a failing output is an internal
// fault, small file or large.
func TestValidateWriteError(t *testing.T) {
	v, err := NewValidator(DefaultConfig(), simpleFeed())
	require.NoError(t, err)
	var long strings.Builder
	long.WriteString("id,name\n")
	for i := range 100000 {
		long.WriteString(itoa(i) + ",a\n")
	}
	boom := errors.New("disk full")
	for _, in := range []string{"id,name\n1,a\n", long.String()} {
		_, err = v.Validate(t.Context(), strings.NewReader(in), errWriter{boom})
		require.ErrorIs(t, err, boom)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }
