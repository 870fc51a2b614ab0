package decrypt

import (
	"errors"
	"hash"
	"io"
	"sync/atomic"
)

// copyChunks is how many copyBuffer chunks are in flight between the reader
// and the writer of copyContent.
const copyChunks = 3

// copyContent copies the content from src to w and h, and counts it against
// the limits. It reads (decrypts, inflates, checks the MDC) on the calling
// goroutine and hashes and writes on another, which it waits for before it
// returns: on two cores SHA-256 and the disk overlap AES, SHA-1 and inflate.
// It returns the error that stopped the reading (nil at io.EOF) and the
// first error of w, after which it stops reading.
func copyContent(w io.Writer, h hash.Hash, src io.Reader, l *limits) (readErr, writeErr error) {
	free := make(chan []byte, copyChunks)
	full := make(chan []byte, copyChunks)
	for range copyChunks {
		free <- make([]byte, copyBuffer)
	}
	done := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		for b := range full {
			if err == nil {
				h.Write(b)
				if _, err = w.Write(b); err != nil {
					failed.Store(true)
				}
			}
			free <- b[:cap(b)]
		}
		done <- err
	}()
	for readErr == nil {
		b := <-free
		if failed.Load() {
			readErr = errWriteFailed
			break
		}
		n := 0
		for n < len(b) && readErr == nil {
			var m int
			m, readErr = src.Read(b[n:])
			n += m
		}
		if int64(n) > l.maxOutput-l.written {
			readErr = l.tooLarge()
			break
		}
		l.written += int64(n)
		full <- b[:n]
	}
	close(full)
	writeErr = <-done
	if readErr == io.EOF || writeErr != nil {
		readErr = nil
	}
	return readErr, writeErr
}

// errWriteFailed stops the reading when the writing failed.
var errWriteFailed = errors.New("write failed")
