package csvcheck

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/credentials"
)

// fuzzSeeds are the corpus shared by the fuzz targets: the bad
// inputs in small.
var fuzzSeeds = []string{
	"id,name\n1,a\n2,b\n",
	"\xef\xbb\xbfid;name\r\n1;a\r\n",
	"id\tname\n1\t\"x\ny\"\n",
	"id,name\n1,\"open\n2,b\n",
	"id,name\n1,M\xfcller\n",
	"id,name\n1,a\x00b\n",
	"id,name\n1,a,b\n2\n",
	"name\nx\n",
	"id,name\n1,a\n1,b\n007,c\n7,d\n",
	"id,name\n1,=cmd\n2,+x\n3,-5\n4,@y\n",
	"id,name\r1,a\r",
	"\"id\",\"na\"\"me\"\n\"1\",\"a\"\"b\"\n",
	"id|name|x\n1|a|\n",
	"id,name\n\n\n1,a",
	"id,name\n1,a\"b\n2,\"c\"d\n",
	"id,name\r\n1,a\r\n\x1a",
}

// fuzzFeed returns a feed for a fuzz input: mode picks the delimiter,
// encoding, policy and columns.
func fuzzFeed(mode byte) credentials.Feed {
	f := credentials.Feed{Name: "f", OnError: "reject_file", Schema: credentials.Schema{
		Delimiter: []string{"auto", ",", ";", "\t", "|"}[int(mode)%5],
		Encoding:  []string{"utf-8", "windows-1252"}[int(mode>>3)%2],
		Columns: []credentials.Column{
			{Name: "id", Type: "integer", Required: true, Unique: true},
			{Name: "name", Type: "string", Unique: mode&0x40 != 0},
		},
	}}
	if mode&0x10 != 0 {
		f.OnError, f.MaxErrorRate = "skip_rows", 0.5
	}
	if mode&0x20 != 0 {
		f.Schema.AllowExtraColumns = true
		f.Schema.Columns = append(f.Schema.Columns,
			credentials.Column{Name: "day", Type: "date"},
			credentials.Column{Name: "mail", Type: "email"},
			credentials.Column{Name: "code", Type: "regex", Pattern: `[A-Z]+\d*`})
	}
	return f
}

// FuzzValidate checks the invariants of a report on any input: no fault,
// problems with sane lines and excerpts, and accepted output that
// encoding/csv reads back as header plus Rows records of the header's
// width.
func FuzzValidate(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), byte(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		cfg := DefaultConfig()
		cfg.MaxLineBytes, cfg.MaxFieldBytes, cfg.MaxErrors, cfg.MaxUniqueValues = 256, 64, 20, 50
		v, err := NewValidator(cfg, fuzzFeed(mode))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep, err := v.Validate(t.Context(), bytes.NewReader(data), &out)
		if err != nil {
			t.Fatalf("internal fault on bytes: %v", err)
		}
		lines := int64(bytes.Count(data, []byte{'\n'})) + 1
		for _, p := range rep.Problems {
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("problem at line %d of %d: %+v", p.Line, lines, p)
			}
			if !utf8.ValidString(p.Value) || utf8.RuneCountInString(p.Value) > maxExcerpt || !utf8.ValidString(p.Message) {
				t.Fatalf("bad excerpt or message %+v", p)
			}
			if p.Err == nil {
				t.Fatalf("problem without a cause %+v", p)
			}
		}
		if !rep.Accepted() {
			if !isRejection(rep.Err) || rep.Rows != 0 {
				t.Fatalf("rejection %v with %d rows", rep.Err, rep.Rows)
			}
			return
		}
		if rep.Rows+rep.Rejected != rep.Total {
			t.Fatalf("rows %d + rejected %d != total %d", rep.Rows, rep.Rejected, rep.Total)
		}
		if !utf8.Valid(out.Bytes()) {
			t.Fatalf("output is not UTF-8: %q", out.Bytes())
		}
		r := csv.NewReader(&out)
		r.FieldsPerRecord = len(rep.Columns)
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("output does not read back: %v\n%q", err, out.String())
		}
		if int64(len(recs)) != rep.Rows+1 || strings.Join(recs[0], "\x00") != strings.Join(rep.Columns, "\x00") {
			t.Fatalf("output has %d records for %d rows, header %q for %q", len(recs), rep.Rows, recs[0], rep.Columns)
		}
	})
}

// FuzzScanner checks the scanner against encoding/csv on every input both
// read without an error, through the fast path and a byte at a time.
func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		want, werr := r.ReadAll()
		lastLine := 0
		if werr == nil && len(want) > 0 {
			lastLine, _ = r.FieldPos(0)
		}
		if n := len(want); n > 0 && len(want[n-1]) == 1 && want[n-1][0] == "\x1a" &&
			(bytes.HasSuffix(data, []byte("\x1a")) || bytes.HasSuffix(data, []byte("\x1a\r"))) {
			want, lastLine = want[:n-1], 0 // the scanner drops DOS's end-of-file mark
		}
		for rname, wrap := range readers {
			got, err := scanAll(string(data), ',', 1<<16, wrap)
			if err != nil && !isRejection(err) {
				t.Fatalf("%s: internal fault on bytes: %v", rname, err)
			}
			clean := err == nil
			for _, rec := range got {
				clean = clean && rec.badQuote < 0
			}
			if werr != nil || !clean {
				if werr == nil && !errors.Is(err, ErrLineTooLong) && clean {
					t.Fatalf("%s: scanner refused what encoding/csv reads: %v", rname, err)
				}
				continue
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d records, encoding/csv %d", rname, len(got), len(want))
			}
			for i := range got {
				if strings.Join(got[i].fields, "\x00") != strings.Join(want[i], "\x00") {
					t.Fatalf("%s: record %d: %q, encoding/csv %q", rname, i, got[i].fields, want[i])
				}
				if i == len(got)-1 && lastLine != 0 && lastLine != int(got[i].line) {
					t.Fatalf("%s: last record at line %d, encoding/csv %d", rname, got[i].line, lastLine)
				}
			}
		}
	})
}

// fastLayouts are layouts with a fast path.
var fastLayouts = []*layout{
	compileLayout("2006-01-02"), compileLayout(time.RFC3339), compileLayout("02.01.2006"),
	compileLayout("01/02/2006 15:04:05"), compileLayout("2006-01-02 15:04:05-07:00"),
	compileLayout("2006-01-02T15:04:05Z07:00 2006"),
}

var fuzzPatterns = func() []*pattern {
	var ps []*pattern
	for _, s := range []string{`[A-Z]{3}-\d{4}`, `[a-z0-9_]+`, `(?i)sku\d*x?`, `\w+@[a-z]+`, `a{2,}b?c*`} {
		p, err := compilePattern(s)
		if err != nil || p.items == nil {
			panic(s)
		}
		ps = append(ps, p)
	}
	return ps
}()

// FuzzFastPaths checks that every fast path agrees with the rule it
// stands for: dates with time.Parse, emails with net/mail, patterns with
// regexp, integers with strconv, the writer with encoding/csv.
func FuzzFastPaths(f *testing.F) {
	for _, s := range []string{"2024-02-29", "2024-02-29T10:00:00.5+01:00", "29.02.2024", "02/29/2024 23:59:59.9",
		"a@example.com", "a..b@x.y", "ABC-1234", "SKU12X", "aab", "-9223372036854775808", "1.5", " x\x1f\"y\"\x1f\\."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		for _, l := range fastLayouts {
			if l.fast(b) {
				if _, err := time.Parse(l.src, s); err != nil {
					t.Fatalf("layout %q: fast path accepts %q, time.Parse: %v", l.src, s, err)
				}
			}
		}
		if simpleEmail(b) && !parsedEmail(b) {
			t.Fatalf("simpleEmail accepts %q, net/mail does not", s)
		}
		for _, p := range fuzzPatterns {
			if p.greedy(b) && !p.re.Match(b) {
				t.Fatalf("pattern %s: greedy accepts %q, regexp does not", p.re, s)
			}
		}
		n, ok := parseInt(b)
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || (ok && n != want) {
			t.Fatalf("parseInt(%q) = %d, %v; strconv %d, %v", s, n, ok, want, err)
		}
		if isDecimal(b) {
			if _, err := strconv.ParseFloat(s, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				t.Fatalf("isDecimal accepts %q, strconv: %v", s, err)
			}
		}
		fields := bytes.Split(b, []byte{0x1f})
		if len(fields) > 1 || len(fields[0]) > 0 {
			var got bytes.Buffer
			w := newCSVWriter(&got)
			if err := w.write(fields); err != nil {
				t.Fatal(err)
			}
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			if want := csvWriterOutput(t, fields); got.String() != want {
				t.Fatalf("writer: %q, encoding/csv %q", got.String(), want)
			}
		}
	})
}
