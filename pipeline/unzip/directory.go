package unzip

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Signatures and fixed lengths of the records of APPNOTE.TXT section 4.3.
const (
	sigLocal        = 0x04034b50
	sigCentral      = 0x02014b50
	sigEnd          = 0x06054b50
	sigEnd64        = 0x06064b50
	sigEnd64Locator = 0x07064b50
	lenCentral      = 46
	lenEnd          = 22
	lenEnd64        = 56
	lenEnd64Locator = 20
	maxCommentLen   = 0xffff
)

// errNoEnd says the end-of-central-directory record was not found.
var errNoEnd = errors.New("no end-of-central-directory record")

// ioError marks a failure to read the archive's blob, an internal fault to
// retry rather than bad input.
type ioError struct{ err error }

func (e ioError) Error() string { return "read archive: " + e.err.Error() }
func (e ioError) Unwrap() error { return e.err }

// archiveReader reads the archive's blob, marking every failure other than
// io.EOF as an ioError so that it is retried rather than blamed on the
// archive, even through archive/zip and the decompressors.
type archiveReader struct{ r io.ReaderAt }

func (a archiveReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 { // only a lying archive leads there
		return 0, io.ErrUnexpectedEOF
	}
	n, err := a.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = ioError{err}
	}
	return n, err
}

// isIOError reports whether err is a failure to read the blob.
func isIOError(err error) bool {
	var ie ioError
	return errors.As(err, &ie)
}

// readAt reads len(p) bytes at off: io.ErrUnexpectedEOF when the archive is
// shorter, an ioError when the blob cannot be read.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	switch {
	case n == len(p):
		return nil
	case isIOError(err):
		return err
	default:
		return io.ErrUnexpectedEOF
	}
}

// shortRead is the error of a readAt that fell short: the blob's, or the
// archive's being truncated.
func shortRead(err error) error {
	if isIOError(err) {
		return err
	}
	return fmt.Errorf("its data is cut short: %w", ErrTruncated)
}

// countEntries counts the headers of the central directory, stopping as
// soon as there are more than limit (ErrTooManyEntries). archive/zip reads
// the whole directory into memory and trusts its record count only modulo
// 65536, so this walk, which holds nothing, comes first. It returns errNoEnd
// when there is no end record; when the directory is otherwise unreadable it
// returns nil and leaves the diagnosis to archive/zip.
func countEntries(r io.ReaderAt, size int64, limit int) error {
	end, err := findEnd(r, size)
	if err != nil {
		return err
	}
	if end.records > uint64(limit) {
		return fmt.Errorf("the central directory declares %d entries, more than %d: %w", end.records, limit, ErrTooManyEntries)
	}
	// As archive/zip does, accept a directory offset relative to the end
	// record when data was prepended to the archive.
	start := int64(end.dirOffset)
	var sig [4]byte
	if err := readAt(r, sig[:], start); err != nil || binary.LittleEndian.Uint32(sig[:]) != sigCentral {
		if isIOError(err) {
			return err
		}
		start = end.offset - int64(end.dirSize)
		if start < 0 || start >= size {
			return nil
		}
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, size-start), 64<<10)
	var h [lenCentral]byte
	for n := 0; ; n++ {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if isIOError(err) {
				return err
			}
			return nil
		}
		if binary.LittleEndian.Uint32(h[:]) != sigCentral {
			return nil
		}
		if n >= limit {
			return fmt.Errorf("the central directory holds more than %d entries: %w", limit, ErrTooManyEntries)
		}
		skip := int64(binary.LittleEndian.Uint16(h[28:])) + int64(binary.LittleEndian.Uint16(h[30:])) + int64(binary.LittleEndian.Uint16(h[32:]))
		if _, err := br.Discard(int(skip)); err != nil {
			if isIOError(err) {
				return err
			}
			return nil
		}
	}
}

// directoryEnd is what countEntries needs of the end record.
type directoryEnd struct {
	offset    int64 // of the end record (or the zip64 one) in the archive
	records   uint64
	dirSize   uint64
	dirOffset uint64
}

// findEnd finds and reads the end-of-central-directory record, and the
// zip64 one when the first says so.
func findEnd(r io.ReaderAt, size int64) (directoryEnd, error) {
	n := min(size, lenEnd+maxCommentLen)
	if n < lenEnd {
		return directoryEnd{}, errNoEnd
	}
	tail := make([]byte, n)
	if err := readAt(r, tail, size-n); err != nil {
		if isIOError(err) {
			return directoryEnd{}, err
		}
		return directoryEnd{}, errNoEnd
	}
	p := -1
	for i := len(tail) - lenEnd; i >= 0; i-- {
		if binary.LittleEndian.Uint32(tail[i:]) == sigEnd {
			if i+lenEnd+int(binary.LittleEndian.Uint16(tail[i+20:])) <= len(tail) {
				p = i
			}
			break
		}
	}
	if p < 0 {
		return directoryEnd{}, errNoEnd
	}
	b := tail[p:]
	end := directoryEnd{
		offset:    size - n + int64(p),
		records:   uint64(binary.LittleEndian.Uint16(b[10:])),
		dirSize:   uint64(binary.LittleEndian.Uint32(b[12:])),
		dirOffset: uint64(binary.LittleEndian.Uint32(b[16:])),
	}
	if end.records != 0xffff && end.dirSize != 0xffffffff && end.dirOffset != 0xffffffff {
		return end, nil
	}
	if end.offset < lenEnd64Locator {
		return end, nil
	}
	var loc [lenEnd64Locator]byte
	if err := readAt(r, loc[:], end.offset-lenEnd64Locator); err != nil {
		if isIOError(err) {
			return end, err
		}
		return end, nil
	}
	if binary.LittleEndian.Uint32(loc[:]) != sigEnd64Locator {
		return end, nil
	}
	off := binary.LittleEndian.Uint64(loc[8:])
	if off > uint64(size-lenEnd64) {
		return end, nil
	}
	var e64 [lenEnd64]byte
	if err := readAt(r, e64[:], int64(off)); err != nil || binary.LittleEndian.Uint32(e64[:]) != sigEnd64 {
		if isIOError(err) {
			return end, err
		}
		return end, nil
	}
	end.offset = int64(off)
	end.records = binary.LittleEndian.Uint64(e64[32:])
	end.dirSize = binary.LittleEndian.Uint64(e64[40:])
	end.dirOffset = binary.LittleEndian.Uint64(e64[48:])
	if end.dirSize > 1<<62 || end.dirOffset > 1<<62 {
		end.dirSize, end.dirOffset = 0, 0
	}
	return end, nil
}
