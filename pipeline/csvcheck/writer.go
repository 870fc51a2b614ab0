package csvcheck

import (
	"bufio"
	"bytes"
	"io"
	"unicode"
	"unicode/utf8"
)

// csvWriter writes records as RFC 4180 CSV with LF line ends, byte for byte
// as encoding/csv's Writer with UseCRLF false does, except that a record of
// one empty field is written `""` (encoding/csv writes an empty line, which
// readers skip, losing the row). It takes [][]byte: encoding/csv's []string
// would cost an allocation per field, the largest cost of the whole stage.
// Errors are sticky: the writes report the first one, and so does flush.
type csvWriter struct {
	w *bufio.Writer
}

func newCSVWriter(w io.Writer) *csvWriter {
	return &csvWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (w *csvWriter) write(fields [][]byte) error {
	if len(fields) == 1 && len(fields[0]) == 0 {
		_, err := w.w.WriteString("\"\"\n")
		return err
	}
	for i, f := range fields {
		if i > 0 {
			_ = w.w.WriteByte(',')
		}
		if !needsQuotes(f) {
			_, _ = w.w.Write(f)
			continue
		}
		_ = w.w.WriteByte('"')
		for {
			j := bytes.IndexByte(f, '"')
			if j < 0 {
				_, _ = w.w.Write(f)
				break
			}
			_, _ = w.w.Write(f[:j+1])
			_ = w.w.WriteByte('"')
			f = f[j+1:]
		}
		_ = w.w.WriteByte('"')
	}
	return w.w.WriteByte('\n')
}

// writePlain writes a record the scanner read from one line without quotes
// (scanner.plain), whose fields are slices of raw separated by delim. Such
// fields hold no quote and no line break, so when raw has no CR and no ','
// other than delimiters and no field starts with a space or is \., no
// field needs quotes, and raw is written as is, or its fields joined by ','.
func (w *csvWriter) writePlain(raw []byte, fields [][]byte, delim byte) error {
	if bytes.IndexByte(raw, '\r') >= 0 || (delim != ',' && bytes.IndexByte(raw, ',') >= 0) {
		return w.write(fields)
	}
	for _, f := range fields {
		if len(f) > 0 && (f[0] <= ' ' || f[0] >= utf8.RuneSelf || f[0] == '\\') && needsQuotes(f) {
			return w.write(fields)
		}
	}
	if delim == ',' {
		_, _ = w.w.Write(raw)
		return w.w.WriteByte('\n')
	}
	for i, f := range fields {
		if i > 0 {
			_ = w.w.WriteByte(',')
		}
		_, _ = w.w.Write(f)
	}
	return w.w.WriteByte('\n')
}

func (w *csvWriter) flush() error { return w.w.Flush() }

// needsQuotes is encoding/csv's fieldNeedsQuotes for the delimiter ','.
func needsQuotes(f []byte) bool {
	if len(f) == 0 {
		return false
	}
	if len(f) == 2 && f[0] == '\\' && f[1] == '.' {
		return true
	}
	for _, c := range f {
		if c == '\n' || c == '\r' || c == '"' || c == ',' {
			return true
		}
	}
	if f[0] < utf8.RuneSelf {
		return f[0] == ' ' || f[0] == '\t' || f[0] == '\v' || f[0] == '\f'
	}
	r, _ := utf8.DecodeRune(f)
	return unicode.IsSpace(r)
}
