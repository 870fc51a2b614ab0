package csvcheck

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// delimiters are the candidates of auto-detection, in order of preference.
var delimiters = []byte{',', ';', '\t', '|'}

// detectDelimiter picks the delimiter of a file from its first lines (head):
// the candidate that splits the header into the most schema column names;
// when names do not decide (a one-column schema, a header of unknown
// names), the one that splits every line into the same number of fields,
// the most; else ','. known holds the schema's names in lower case.
func detectDelimiter(head []byte, known map[string]int) byte {
	lines := bytes.Split(head, []byte{'\n'})
	if len(lines) > 1 {
		lines = lines[:len(lines)-1] // the last one may be cut
	}
	best, bestScore := byte(','), 0
	tied := 0
	for _, d := range delimiters {
		score := 0
		for _, f := range splitLoose(lines[0], d) {
			if _, ok := known[strings.ToLower(strings.TrimSpace(string(f)))]; ok {
				score++
			}
		}
		switch {
		case score > bestScore:
			best, bestScore, tied = d, score, 0
		case score == bestScore && score > 0:
			tied++
		}
	}
	if bestScore > 0 && tied == 0 {
		return best
	}
	best, bestFields := byte(','), 1
	for _, d := range delimiters {
		n := len(splitLoose(lines[0], d))
		if n <= bestFields {
			continue
		}
		consistent := true
		for _, l := range lines[1:] {
			if len(bytes.TrimRight(l, "\r")) > 0 && len(splitLoose(l, d)) != n {
				consistent = false
				break
			}
		}
		if consistent {
			best, bestFields = d, n
		}
	}
	return best
}

// splitLoose splits a line on d outside quotes, without unescaping: good
// enough to count fields and compare names.
func splitLoose(line []byte, d byte) [][]byte {
	line = bytes.TrimRight(line, "\r")
	var fields [][]byte
	quoted, start := false, 0
	for i, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case c == d && !quoted:
			fields = append(fields, bytes.Trim(line[start:i], `"`))
			start = i + 1
		}
	}
	return append(fields, bytes.Trim(line[start:], `"`))
}

// header reads and checks the header row: it fills r.cols, r.names and
// r.uniques, and returns a rejection when the header does not fit the
// schema. Absent optional columns are warnings.
func (r *run) header() error {
	ok, err := r.sc.next()
	if err != nil {
		return err
	}
	if !ok {
		return reject(ErrEmpty, "the file is empty: a CSV file needs at least a header row")
	}
	sc, v := r.sc, r.v
	line := sc.start
	switch {
	case !utf8.Valid(sc.raw):
		return rejectAt(ErrInvalidUTF8, line, "line %d: the header is not valid UTF-8%s", line, r.encodingHint())
	case bytes.IndexByte(sc.raw, 0) >= 0:
		return rejectAt(ErrNotText, line, "line %d: the header holds NUL bytes: binary file, not CSV text", line)
	case bytes.IndexByte(sc.raw, '\r') >= 0:
		return rejectAt(ErrLineBreaks, line, "line %d: lines end with a bare CR (classic Mac OS line breaks); save the file with LF or CRLF line breaks", line)
	case sc.badQuote >= 0:
		return rejectAt(ErrBadHeader, line, "line %d: header column %d has a misplaced quote", line, sc.badQuote+1)
	case len(sc.fields) > v.cfg.MaxColumns:
		return rejectAt(ErrBadHeader, line, "line %d: the header has %d columns, more than the limit of %d", line, len(sc.fields), v.cfg.MaxColumns)
	}
	r.cols = make([]*column, len(sc.fields))
	r.names = make([]string, len(sc.fields))
	r.uniques = make([]*uniqueSet, len(sc.fields))
	seen := make(map[string]int, len(sc.fields))
	present := make([]bool, len(v.columns))
	var unknown []string
	for i, f := range sc.fields {
		name := strings.TrimSpace(string(f))
		key := strings.ToLower(name)
		if j, dup := seen[key]; dup && name != "" {
			return rejectAt(ErrBadHeader, line, "line %d: the header names column %q twice (columns %d and %d; names are compared ignoring case)", line, name, j+1, i+1)
		}
		seen[key] = i
		r.names[i] = name
		c, ok := v.byName[key]
		if !ok {
			if name == "" {
				name = fmt.Sprintf("(column %d has no name)", i+1)
			}
			unknown = append(unknown, name)
			continue
		}
		col := v.columns[c]
		present[c] = true
		r.cols[i], r.names[i] = col, col.name
		if col.unique {
			r.uniques[i] = newUniqueSet(v.cfg.MaxUniqueValues)
		}
	}
	var missing, absent []string
	for c, col := range v.columns {
		switch {
		case present[c]:
		case col.required:
			missing = append(missing, col.name)
		default:
			absent = append(absent, col.name)
		}
	}
	if len(missing) > 0 {
		hint := ""
		if len(unknown) > 0 {
			hint = fmt.Sprintf("; it has columns the feed does not know: %s", quoteList(unknown))
		}
		return rejectAt(ErrMissingColumns, line, "line %d: the header lacks the required %s %s%s", line, plural(len(missing), "column", "columns"), quoteList(missing), hint)
	}
	if len(unknown) > 0 && !v.feed.Schema.AllowExtraColumns {
		return rejectAt(ErrUnknownColumns, line, "line %d: the header has %s the feed does not know: %s (the feed's columns are %s, and it does not allow extra columns)",
			line, plural(len(unknown), "a column", "columns"), quoteList(unknown), quoteList(v.names))
	}
	for _, name := range absent {
		r.warn(line, name, nil, ErrMissingColumns, "the optional column is absent from the header")
	}
	return nil
}

// encodingHint suggests the feed's encoding setting after invalid UTF-8.
func (r *run) encodingHint() string {
	if r.utf8 {
		return " (the feed expects UTF-8: is the file in windows-1252 or latin-1? an administrator can set the feed's encoding)"
	}
	return ""
}

func quoteList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 20 {
			fmt.Fprintf(&b, "and %d more", len(names)-20)
			break
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
