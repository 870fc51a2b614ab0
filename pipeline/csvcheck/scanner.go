package csvcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// readSize is the scanner's initial buffer and the usual size of one read.
const readSize = 128 << 10

// scanner reads RFC 4180 records in bounded memory: its buffer never grows
// past maxLine plus a line break, and a longer record stops it with
// ErrLineTooLong before the rest of the line is read. encoding/csv's Reader
// would buffer a whole record, however long.
//
// Lines end with LF or CRLF; a lone CR is data. Quoted fields may hold
// delimiters, doubled quotes and line breaks (a CRLF inside quotes becomes
// LF, as encoding/csv does). Empty lines are skipped but counted, and so is
// a Ctrl-Z ending the input (DOS's end-of-file mark). A quote
// inside an unquoted field, or text after a closing quote, is kept as data
// and flagged in badQuote: the record can still be read, the row is in
// error.
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int // unread bytes are buf[pos:end]
	eof      bool
	maxLine  int
	maxBuf   int
	delim    byte
	line     int64 // physical line of buf[pos], from 1

	// The current record, valid until the next call of next.
	fields   [][]byte
	raw      []byte // the record as read, without its final line break
	start    int64  // physical line where the record starts
	badQuote int    // index of the first field with a misplaced quote; -1 if none
	plain    bool   // read by the fast path: one line, no quotes, fields are raw's

	rec  []byte // unescaped content of a record read by slow
	ends []int  // ends of its fields in rec
}

func newScanner(r io.Reader, maxLine int) *scanner {
	return &scanner{
		r:       r,
		buf:     make([]byte, readSize),
		maxLine: maxLine,
		maxBuf:  max(readSize, maxLine+2),
		line:    1,
		delim:   ',',
	}
}

// fill reads more input behind buf[pos:end], moving the unread bytes to the
// front and growing buf up to maxBuf when it is full. It reports whether it
// added bytes: not at the end of input, nor when buf is full at maxBuf.
func (s *scanner) fill() (bool, error) {
	if s.eof {
		return false, nil
	}
	if s.pos > 0 {
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.pos = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.maxBuf {
			return false, nil
		}
		nb := make([]byte, min(2*len(s.buf), s.maxBuf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		switch {
		case err == io.EOF:
			s.eof = true
			return n > 0, nil
		case err != nil:
			return n > 0, fmt.Errorf("read csv: %w", err)
		case n > 0:
			return true, nil
		}
	}
}

// head fills the buffer with the first lines of input (about 64 KiB, or all
// of it when shorter) and returns them without consuming them.
func (s *scanner) head() ([]byte, error) {
	for !s.eof && s.end-s.pos < 64<<10 && bytes.Count(s.buf[s.pos:s.end], []byte{'\n'}) < 20 {
		if _, err := s.fill(); err != nil {
			return nil, err
		}
	}
	return s.buf[s.pos:s.end], nil
}

// next reads the next non-empty record. It returns false at the end of
// input, and a rejection (ErrLineTooLong, ErrUnterminatedQuote) or a read
// error when it cannot go on.
func (s *scanner) next() (bool, error) {
	for {
		data := s.buf[s.pos:s.end]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			// The fast path: a whole line without quotes.
			if line := data[:i]; bytes.IndexByte(line, '"') < 0 {
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
				if len(line) > s.maxLine {
					return false, s.tooLong(false, 0)
				}
				s.start = s.line
				s.line++
				s.pos += i + 1
				if len(line) == 0 {
					continue
				}
				s.raw, s.badQuote, s.plain = line, -1, true
				s.split(line)
				return true, nil
			}
		} else if len(data) > s.maxLine+1 && bytes.IndexByte(data, '"') < 0 {
			return false, s.tooLong(false, 0)
		} else if !s.eof && len(data) <= s.maxLine+1 {
			if _, err := s.fill(); err != nil {
				return false, err
			}
			continue
		}
		ok, err := s.slow()
		switch {
		case ok && len(s.raw) == 0:
			continue
		case ok && s.eof && s.pos == s.end && len(s.raw) == 1 && s.raw[0] == 0x1a:
			// Ctrl-Z, the end-of-file mark of DOS editors.
			return false, nil
		}
		return ok, err
	}
}

// split cuts an unquoted line into fields.
func (s *scanner) split(line []byte) {
	// Eight bytes at a time: fields are short, and bytes.IndexByte's setup
	// costs more than it saves on them.
	const lo, m7 = 0x0101010101010101, 0x7f7f7f7f7f7f7f7f
	s.fields = s.fields[:0]
	d, start, i := s.delim, 0, 0
	pat := lo * uint64(d)
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:]) ^ pat
		// The high bit of each byte of t is set where x has a zero
		// byte, that is where line has d (exact: no carries across
		// bytes).
		for t := ^((x&m7 + m7) | x | m7); t != 0; t &= t - 1 {
			j := i + bits.TrailingZeros64(t)>>3
			s.fields = append(s.fields, line[start:j:j])
			start = j + 1
		}
	}
	for ; i < len(line); i++ {
		if line[i] == d {
			s.fields = append(s.fields, line[start:i:i])
			start = i + 1
		}
	}
	s.fields = append(s.fields, line[start:])
}

// The states of slow.
const (
	stField  = iota // at the start of a field
	stBare          // inside an unquoted field
	stQuoted        // inside a quoted field
	stQuote         // after a quote inside a quoted field: its end, or the first of a doubled quote
)

// slow reads one record byte by byte: records with quotes, the last line of
// input, and lines too long for the fast path. Its position i is relative to
// s.pos, which fill may move: nothing here points into buf until the record
// is done.
func (s *scanner) slow() (bool, error) {
	s.rec, s.ends, s.badQuote, s.plain = s.rec[:0], s.ends[:0], -1, false
	state, newlines, quoteLine := stField, 0, int64(0)
	for i := 0; ; {
		if s.pos+i == s.end {
			more, err := s.fill()
			if err != nil {
				return false, err
			}
			if more {
				continue
			}
			if !s.eof {
				return false, s.tooLong(state == stQuoted && newlines > 0, quoteLine)
			}
			switch {
			case i == 0:
				return false, nil
			case state == stQuoted:
				return false, rejectAt(ErrUnterminatedQuote, s.line,
					"line %d: a quoted field opened on line %d is never closed: the file ends inside it (an unterminated quote)", s.line, quoteLine)
			}
			return s.finish(i, i, newlines)
		}
		if state == stQuoted && (i == 0 || s.buf[s.pos+i-1] != '\r') {
			// Copy up to the next quote at once, but stop at a CR: CRLF
			// inside quotes becomes LF below, byte by byte.
			span := s.buf[s.pos+i : s.end]
			if j := bytes.IndexByte(span, '"'); j >= 0 {
				span = span[:j]
			}
			if j := bytes.IndexByte(span, '\r'); j >= 0 {
				span = span[:j]
			}
			if len(span) > 0 {
				newlines += bytes.Count(span, []byte{'\n'})
				s.rec = append(s.rec, span...)
				if i += len(span); i > s.maxLine+2 {
					return false, s.tooLong(newlines > 0, quoteLine)
				}
				continue
			}
		}
		c := s.buf[s.pos+i]
		if c == '\r' && state != stQuoted {
			// CRLF ends the record; a CR ending the input is dropped, as
			// encoding/csv does; a lone CR is data.
			if s.pos+i+1 == s.end && !s.eof {
				more, err := s.fill()
				if err != nil {
					return false, err
				}
				if !more && !s.eof {
					return false, s.tooLong(false, 0)
				}
				continue
			}
			if s.pos+i+1 == s.end {
				return s.finish(i, i+1, newlines)
			}
			if s.buf[s.pos+i+1] == '\n' {
				return s.finish(i, i+2, newlines+1)
			}
		}
		switch state {
		case stField, stBare:
			switch {
			case c == s.delim:
				s.ends = append(s.ends, len(s.rec))
				state = stField
			case c == '\n':
				return s.finish(i, i+1, newlines+1)
			case c == '"' && state == stField:
				state, quoteLine = stQuoted, s.line+int64(newlines)
			default:
				if c == '"' && s.badQuote < 0 {
					s.badQuote = len(s.ends)
				}
				s.rec = append(s.rec, c)
				state = stBare
			}
		case stQuoted:
			switch c {
			case '"':
				state = stQuote
			case '\n':
				newlines++
				if n := len(s.rec); n > 0 && s.rec[n-1] == '\r' && i > 0 && s.buf[s.pos+i-1] == '\r' {
					s.rec = s.rec[:n-1]
				}
				s.rec = append(s.rec, c)
			default:
				s.rec = append(s.rec, c)
			}
		case stQuote:
			switch {
			case c == '"':
				s.rec = append(s.rec, c)
				state = stQuoted
			case c == s.delim:
				s.ends = append(s.ends, len(s.rec))
				state = stField
			case c == '\n':
				return s.finish(i, i+1, newlines+1)
			default:
				if s.badQuote < 0 {
					s.badQuote = len(s.ends)
				}
				s.rec = append(s.rec, c)
				state = stBare
			}
		}
		i++
		if i > s.maxLine+2 {
			return false, s.tooLong(state == stQuoted && newlines > 0, quoteLine)
		}
	}
}

// finish ends the record read by slow: its content is buf[pos:pos+rawEnd],
// consumed bytes including the line break, newlines the line breaks among
// them.
func (s *scanner) finish(rawEnd, consumed, newlines int) (bool, error) {
	if rawEnd > s.maxLine {
		return false, s.tooLong(false, 0)
	}
	s.ends = append(s.ends, len(s.rec))
	s.raw = s.buf[s.pos : s.pos+rawEnd]
	s.start = s.line
	s.line += int64(newlines)
	s.pos += consumed
	s.fields = s.fields[:0]
	from := 0
	for _, e := range s.ends {
		s.fields = append(s.fields, s.rec[from:e:e])
		from = e
	}
	return true, nil
}

// tooLong is the rejection of the record starting at s.line. quoted says
// that a quoted field opened on quoteLine spans lines up to the limit: most
// likely a quote that is never closed.
func (s *scanner) tooLong(quoted bool, quoteLine int64) error {
	if quoted {
		return rejectAt(ErrLineTooLong, s.line,
			"line %d: the record is longer than %d bytes: a quoted field opened on line %d is not closed within the limit (an unterminated quote?)",
			s.line, s.maxLine, quoteLine)
	}
	return rejectAt(ErrLineTooLong, s.line,
		"line %d is longer than %d bytes, the limit for one line: is this a CSV text file with line breaks?", s.line, s.maxLine)
}
