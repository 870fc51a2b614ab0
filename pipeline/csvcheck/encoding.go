package csvcheck

import (
	"bytes"
	"fmt"
	"io"

	"golang.org/x/text/encoding/charmap"
)

// sniffLen is the first block of input inspected before any parsing: NUL
// bytes in it, or more than 1 % of control characters, make the file
// binary.
const sniffLen = 8 << 10

// controls counts the control characters of b that text never holds: all
// but tab, line feed, form feed and carriage return. A single Ctrl-Z, as
// DOS editors end files with, is not enough to call a file binary.
func controls(b []byte) int {
	n := 0
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7f {
			n++
		}
	}
	return n
}

// openText reads the first block of r and returns a reader of the file's
// text as UTF-8: a UTF-8 byte order mark stripped, a single-byte encoding
// (windows-1252, latin-1) transcoded. A UTF-8 BOM means UTF-8 whatever the
// feed declares: no windows-1252 file starts with "ï»¿" on purpose. Empty
// and binary input is a rejection.
func openText(r io.Reader, encoding string) (io.Reader, error) {
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	head = head[:n]
	switch {
	case n == 0:
		return nil, reject(ErrEmpty, "the file is empty: a CSV file needs at least a header row")
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}), bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return nil, reject(ErrNotText, "binary file, not CSV text: it is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8")
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return nil, reject(ErrNotText, "binary file, not CSV text: it is a ZIP archive, and archives are not extracted at this depth")
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN PGP")):
		return nil, reject(ErrNotText, "not CSV text: it is an OpenPGP message, and OpenPGP is not decrypted at this depth")
	}
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		head, encoding = head[3:], "utf-8"
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, reject(ErrNotText, "binary file, not CSV text: its first %d bytes hold NUL bytes", n)
	}
	if c := controls(head); c >= 4 && c*100 > len(head) {
		return nil, reject(ErrNotText, "binary file, not CSV text: %d of its first %d bytes are control characters", c, n)
	}
	text := io.MultiReader(bytes.NewReader(head), r)
	switch encoding {
	case "windows-1252":
		return charmap.Windows1252.NewDecoder().Reader(text), nil
	case "latin-1":
		return charmap.ISO8859_1.NewDecoder().Reader(text), nil
	}
	return text, nil
}
