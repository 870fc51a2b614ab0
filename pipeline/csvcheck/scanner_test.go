package csvcheck

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// record is what the scanner read: the record's start line, fields and
// misplaced-quote field.
type record struct {
	line     int64
	fields   []string
	badQuote int
}

// scanAll reads every record of in with a scanner over r(in).
func scanAll(in string, delim byte, maxLine int, wrap func(io.Reader) io.Reader) ([]record, error) {
	s := newScanner(wrap(strings.NewReader(in)), maxLine)
	s.delim = delim
	var recs []record
	for {
		ok, err := s.next()
		if err != nil || !ok {
			return recs, err
		}
		r := record{line: s.start, badQuote: s.badQuote}
		for _, f := range s.fields {
			r.fields = append(r.fields, string(f))
		}
		recs = append(recs, r)
	}
}

// readers are the ways a test feeds the scanner: whole, a byte at a time
// (every refill path), and with the data and EOF together.
var readers = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"data+EOF": iotest.DataErrReader,
	"half":     iotest.HalfReader,
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		delim byte
		want  []record
		err   error
	}{
		{"LF", "a,b\nc,d\n", ',', []record{{1, []string{"a", "b"}, -1}, {2, []string{"c", "d"}, -1}}, nil},
		{"CRLF and no final break", "a,b\r\nc,d", ',', []record{{1, []string{"a", "b"}, -1}, {2, []string{"c", "d"}, -1}}, nil},
		{"final CR dropped", "a,b\r", ',', []record{{1, []string{"a", "b"}, -1}}, nil},
		{"lone CR is data", "a\rb,c\n", ',', []record{{1, []string{"a\rb", "c"}, -1}}, nil},
		{"empty lines skipped and counted", "\na\n\r\n\nb\n", ',', []record{{2, []string{"a"}, -1}, {5, []string{"b"}, -1}}, nil},
		{"empty fields", ",,\n", ',', []record{{1, []string{"", "", ""}, -1}}, nil},
		{"quoted", `"a,b","c""d",""` + "\n", ',', []record{{1, []string{"a,b", `c"d`, ""}, -1}}, nil},
		{"quoted newline", "1,\"x\ny\"\n2,z\n", ',', []record{{1, []string{"1", "x\ny"}, -1}, {3, []string{"2", "z"}, -1}}, nil},
		{"quoted CRLF becomes LF", "\"x\r\ny\"\r\nz\r\n", ',', []record{{1, []string{"x\ny"}, -1}, {3, []string{"z"}, -1}}, nil},
		{"quoted CR stays", "\"x\ry\"\n", ',', []record{{1, []string{"x\ry"}, -1}}, nil},
		{"quoted last line", `a,"b"`, ',', []record{{1, []string{"a", "b"}, -1}}, nil},
		{"quoted then CRLF", "\"a\"\r\n\"b\"\r", ',', []record{{1, []string{"a"}, -1}, {2, []string{"b"}, -1}}, nil},
		{"bare quote", "a\"b,c\n", ',', []record{{1, []string{`a"b`, "c"}, 0}}, nil},
		{"text after closing quote", "x,\"a\"b,c\n", ',', []record{{1, []string{"x", "ab", "c"}, 1}}, nil},
		{"CR after closing quote", "\"a\"\rb\n", ',', []record{{1, []string{"a\rb"}, 0}}, nil},
		{"semicolon", "a;b,c\n", ';', []record{{1, []string{"a", "b,c"}, -1}}, nil},
		{"tab", "a\tb\n", '\t', []record{{1, []string{"a", "b"}, -1}}, nil},
		{"long fields", strings.Repeat("x", 20) + ",y," + strings.Repeat("z", 17) + "\n", ',', []record{{1, []string{strings.Repeat("x", 20), "y", strings.Repeat("z", 17)}, -1}}, nil},
		{"unterminated quote", "a\n\"b\nc\n", ',', []record{{1, []string{"a"}, -1}}, ErrUnterminatedQuote},
		{"line too long", "a\n" + strings.Repeat("b", 65) + "\n", ',', []record{{1, []string{"a"}, -1}}, ErrLineTooLong},
		{"line at the limit", strings.Repeat("b", 64) + "\r\n", ',', []record{{1, []string{strings.Repeat("b", 64)}, -1}}, nil},
		{"last line too long", "a\n" + strings.Repeat("b", 65), ',', []record{{1, []string{"a"}, -1}}, ErrLineTooLong},
		{"quoted record too long", "a\n\"" + strings.Repeat("b\n", 40) + "\"\n", ',', []record{{1, []string{"a"}, -1}}, ErrLineTooLong},
	}
	for _, tc := range tests {
		for rname, wrap := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				got, err := scanAll(tc.in, tc.delim, 64, wrap)
				if tc.err != nil {
					require.ErrorIs(t, err, tc.err)
				} else {
					require.NoError(t, err)
				}
				require.Equal(t, tc.want, got)
			})
		}
	}
}

// TestScannerMatchesEncodingCSV checks the scanner against encoding/csv on
// inputs both read without error.
func TestScannerMatchesEncodingCSV(t *testing.T) {
	for _, in := range []string{
		"a,b\nc,d\n",
		"\"a\nb\",c\r\n\r\nd,\"\"\"\"\n",
		"x\r\ny\r",
		"1,2,3\n\n\n4,5,6",
		"\"multi\r\nline\",\"x\"\n",
		" a , b \n",
	} {
		require.Equal(t, encodingCSV(t, in), fieldsOf(t, in))
	}
}

func encodingCSV(t *testing.T, in string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(in))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	require.NoError(t, err)
	return recs
}

func fieldsOf(t *testing.T, in string) [][]string {
	t.Helper()
	recs, err := scanAll(in, ',', 1<<20, func(r io.Reader) io.Reader { return r })
	require.NoError(t, err)
	var out [][]string
	for _, r := range recs {
		out = append(out, r.fields)
	}
	return out
}

// TestScannerReadError checks that a read error is passed on, not taken for
// the end of input.
func TestScannerReadError(t *testing.T) {
	boom := errors.New("boom")
	s := newScanner(io.MultiReader(strings.NewReader("a,b\n\"c"), iotest.ErrReader(boom)), 64)
	ok, err := s.next()
	require.True(t, ok)
	require.NoError(t, err)
	_, err = s.next()
	require.ErrorIs(t, err, boom)
}
