package csvcheck

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

// TestColumnTypes checks valid and invalid values of every column type,
// directly and through a file.
func TestColumnTypes(t *testing.T) {
	tests := []struct {
		col     credentials.Column
		valid   []string
		invalid []string
		message string
	}{
		{
			col:   credentials.Column{Type: "string"},
			valid: []string{"x", "any thing", "12", "ünïcödé", `with "quotes"`},
		},
		{
			col:     credentials.Column{Type: "integer"},
			valid:   []string{"0", "7", "-12", "+5", "007", "9223372036854775807", "-9223372036854775808"},
			invalid: []string{"1.5", "1e3", "x", "-", "+", " 1", "1 ", "1,000", "9223372036854775808", "-9223372036854775809", "١٢"},
			message: "not an integer",
		},
		{
			col:     credentials.Column{Type: "decimal"},
			valid:   []string{"0", "1.5", "-2.50", "+3", ".5", "7.", "-0.001", "123456789012345678901234567890.5"},
			invalid: []string{"1,5", "1e3", "1.2.3", ".", "-", "NaN", "Inf", "1 000", "$5", "0x10"},
			message: "not a decimal number",
		},
		{
			col:     credentials.Column{Type: "date", Format: "2006-01-02"},
			valid:   []string{"2024-02-29", "2023-12-31", "0001-01-01", "2000-02-29"},
			invalid: []string{"2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-1-5", "24-01-05", "2024/01/05", "2024-01-05 ", "2024-04-31"},
			message: "not a valid date of the form YYYY-MM-DD",
		},
		{
			col:     credentials.Column{Type: "date", Format: "02.01.2006"},
			valid:   []string{"29.02.2024", "01.12.1999"},
			invalid: []string{"2024-02-29", "30.02.2024", "1.2.2024"},
			message: "of the form DD.MM.YYYY",
		},
		{
			col:     credentials.Column{Type: "date", Format: "Jan 2, 2006"},
			valid:   []string{"Feb 29, 2024", "Dec 1, 1999"},
			invalid: []string{"Feb 30, 2024", "2024-02-01"},
			message: `Go layout "Jan 2, 2006"`,
		},
		{
			col:     credentials.Column{Type: "datetime"},
			valid:   []string{"2024-02-29T23:59:59Z", "2024-01-02T03:04:05+01:00", "2024-01-02T03:04:05.123456789-07:30", "2024-01-02T03:04:05,5Z"},
			invalid: []string{"2024-02-29", "2024-02-29 10:00:00", "2024-02-29T24:00:00Z", "2024-02-29T10:60:00Z", "2024-02-29T10:00:00", "2024-02-29T10:00:00+0100"},
			message: "not a valid date and time of the form YYYY-MM-DDThh:mm:ss±hh:mm",
		},
		{
			col:     credentials.Column{Type: "datetime", Format: "2006-01-02 15:04:05"},
			valid:   []string{"2024-02-29 23:59:59", "2024-02-29 23:59:59.25", "2024-02-29 9:05:00"},
			invalid: []string{"2024-02-29T23:59:59", "2024-02-29 23:59", "2024-02-30 10:00:00"},
			message: "YYYY-MM-DD hh:mm:ss",
		},
		{
			col:     credentials.Column{Type: "boolean"},
			valid:   []string{"true", "FALSE", "True", "yes", "No", "YES", "1", "0"},
			invalid: []string{"t", "f", "y", "n", "2", "on", "off", "truth", "ja", "-1"},
			message: "not a boolean",
		},
		{
			col: credentials.Column{Type: "email"},
			valid: []string{"a@example.com", "first.last+tag@sub.example.co.uk", "o'hara@example.ie", "x_y-z@a-b.example",
				"üser@exämple.de"},
			invalid: []string{"plain", "@example.com", "a@", "a@localhost", "a@example.", "a..b@example.com", ".a@example.com",
				"Ann <ann@example.com>", "<ann@example.com>", "ann@example.com (Ann)", "a b@example.com", "a@b@example.com",
				strings.Repeat("l", 65) + "@example.com", "a@" + strings.Repeat("d", 250) + ".com"},
			message: "not an email address",
		},
		{
			col:     credentials.Column{Type: "enum", Values: []string{"gold", "silver"}},
			valid:   []string{"gold", "silver"},
			invalid: []string{"Gold", "bronze", " gold", "gol"},
			message: `not one of the allowed values "gold", "silver"`,
		},
		{
			col:     credentials.Column{Type: "enum", Values: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}},
			valid:   []string{"a", "l"},
			invalid: []string{"m", "A"},
			message: `"j" and 2 more`,
		},
		{
			col:     credentials.Column{Type: "regex", Pattern: `[A-Z]{3}-\d{4}`},
			valid:   []string{"ABC-1234", "XYZ-0000"},
			invalid: []string{"abc-1234", "ABC-123", "xABC-1234", "ABC-12345", "ABC-1234\n"},
			message: `does not match the pattern [A-Z]{3}-\d{4}`,
		},
		{
			col:     credentials.Column{Type: "regex", Pattern: `a|b`},
			valid:   []string{"a", "b"},
			invalid: []string{"ab", "ba", "c"},
			message: "does not match",
		},
		{
			col:     credentials.Column{Type: "regex", Pattern: `(?i)sku[0-9]+`},
			valid:   []string{"SKU1", "sku123", "Sku0"},
			invalid: []string{"sku", "sku1x"},
			message: "does not match",
		},
	}
	for _, tc := range tests {
		t.Run(tc.col.Type+" "+tc.col.Format+tc.col.Pattern, func(t *testing.T) {
			tc.col.Name = "v"
			col, err := compileColumn(tc.col)
			require.NoError(t, err)
			for _, v := range tc.valid {
				require.Truef(t, col.valid([]byte(v)), "%q must be valid", v)
			}
			for _, v := range tc.invalid {
				require.Falsef(t, col.valid([]byte(v)), "%q must be invalid", v)
			}
			require.Contains(t, col.invalid, tc.message)

			// Through a file: every invalid value is a row error naming
			// its line and column.
			feed := credentials.Feed{Name: "f", OnError: "skip_rows", MaxErrorRate: 1,
				Schema: credentials.Schema{Delimiter: "\t", Columns: []credentials.Column{tc.col}}}
			var in strings.Builder
			in.WriteString("V\n")
			for _, v := range append(tc.valid, tc.invalid...) {
				in.WriteString(`"` + strings.ReplaceAll(v, `"`, `""`) + "\"\n")
			}
			rep, _ := validate(t, DefaultConfig(), feed, in.String())
			require.NoError(t, rep.Err)
			require.Equal(t, int64(len(tc.valid)), rep.Rows)
			require.Equal(t, int64(len(tc.invalid)), rep.Rejected)
			for i := range tc.invalid {
				require.True(t, hasProblem(rep, wantProblem{line: int64(len(tc.valid) + i + 2), column: "v", err: ErrInvalidValue, message: tc.message}),
					"%q: %+v", tc.invalid[i], rep.Problems)
			}
		})
	}
}

// TestLayoutFastPath checks that the fast date paths are taken for the
// common layouts and agree with time.Parse.
func TestLayoutFastPath(t *testing.T) {
	tests := []struct {
		layout string
		fast   bool
		values []string
	}{
		{"2006-01-02", true, []string{"2024-02-29", "2023-02-29", "2024-1-01", "x"}},
		{time.RFC3339, true, []string{"2024-02-29T10:00:00Z", "2024-02-29T10:00:00.5+02:00", "2024-02-29T25:00:00Z"}},
		{"02.01.2006", true, []string{"29.02.2024", "29.02.2023"}},
		{"01/02/2006 15:04", true, []string{"02/29/2024 10:00", "02/29/2024 24:00"}},
		{"2006-01-02 15:04:05-07:00", true, []string{"2024-01-01 10:00:00+01:00", "2024-01-01 10:00:00Z"}},
		{"2006.01.02", true, []string{"2024.02.29"}},
		{"Jan 2, 2006", false, []string{"Feb 29, 2024"}},
		{"2006-01-02T15:04:05.000Z07:00", false, []string{"2024-01-01T10:00:00.123Z"}},
		{"15:04 2006-002", false, nil},
		{"01/02", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.layout, func(t *testing.T) {
			l := compileLayout(tc.layout)
			require.Equal(t, tc.fast, l.parts != nil || l.iso != 0)
			for _, v := range tc.values {
				_, err := time.Parse(tc.layout, v)
				require.Equalf(t, err == nil, l.valid([]byte(v)), "%q", v)
				if l.parts != nil && l.fast([]byte(v)) {
					require.NoErrorf(t, err, "fast path accepted %q", v)
				}
			}
		})
	}
}

// TestPatternFastPath checks which patterns get the greedy matcher.
func TestPatternFastPath(t *testing.T) {
	tests := []struct {
		pattern string
		greedy  bool
	}{
		{`[A-Z]{3}-\d{4}`, true},
		{`[a-z0-9_]+`, true},
		{`\w+@\w+`, true},
		{`[a-z]+[a-z]`, false},
		{`a|b`, true},
		{`ab|cd`, false},
		{`.+`, false},
		{`^x$`, false},
		{`[^,]+`, false},
		{`(?i)abc\d*`, true},
		{`x?y?z`, true},
		{`x*x`, false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			require.NoError(t, err)
			require.Equal(t, tc.greedy, p.items != nil)
		})
	}
}
