package sshserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// maxPendingSpans bounds the out-of-order ranges a prefixHash remembers.
// pkg/sftp runs writes of one handle on a few workers and clients keep up to
// 64 requests in flight, so in practice only a handful are pending at once;
// adjacent ranges merge.
const maxPendingSpans = 64

// hashChunk is the size of the buffer pending ranges are read back with.
const hashChunk = 128 << 10

// span is the byte range [start, end) of a file.
type span struct{ start, end int64 }

// prefixHash computes the SHA-256 of a file being written with concurrent,
// out-of-order WriteAt calls without reading the file a second time where the
// writes arrive in order.
//
// Bytes [0, next) are hashed. A write that starts exactly at the hashed
// prefix is hashed from the caller's buffer while the caller still owns it; a
// write beyond it is only recorded as a pending range (offsets, never data).
// When the prefix reaches a pending range, that range is read back from the
// file, where it sits in the page cache since it was just written. A write
// over bytes already hashed makes the hash stale and the file is hashed again
// at the end. Only the goroutine that set busy touches h and buf.
//
// A prefixHash is safe for concurrent use by the writers of one file.
type prefixHash struct {
	src  io.ReaderAt // the file, to read pending ranges back from
	bufs *sync.Pool  // of *[]byte of hashChunk bytes
	h    hash.Hash   // guarded by busy
	buf  *[]byte     // guarded by busy; nil until first needed
	mu   sync.Mutex  // guards the fields below
	next int64       // [0, next) is hashed into h
	// claimed is the end of the range being hashed by the busy goroutine.
	claimed int64
	busy    bool
	pending []span // written but not hashed, beyond claimed; sorted, disjoint
	stopped bool   // no more incremental hashing: finish hashes [next, size) from src
	stale   bool   // h is no good: finish hashes [0, size) from src
}

func newPrefixHash(src io.ReaderAt, bufs *sync.Pool, incremental bool) *prefixHash {
	return &prefixHash{
		src:     src,
		bufs:    bufs,
		h:       sha256.New(),
		pending: make([]span, 0, 8),
		stopped: !incremental,
	}
}

// wrote records that p was written at off. It must be called after the
// write succeeded and before the caller lets go of p.
func (t *prefixHash) wrote(p []byte, off int64) {
	end := off + int64(len(p))
	t.mu.Lock()
	switch {
	case t.stopped:
		t.mu.Unlock()
		return
	case off < t.claimed:
		// An overwrite of bytes already hashed (or being hashed).
		t.stopped, t.stale = true, true
		t.mu.Unlock()
		return
	case off > t.claimed || t.busy:
		t.addPending(span{off, end})
		t.mu.Unlock()
		return
	}
	t.busy, t.claimed = true, end
	t.mu.Unlock()

	t.h.Write(p)
	t.drain()
}

// addPending inserts s into the pending ranges, merging it with those it
// touches. The caller holds mu.
func (t *prefixHash) addPending(s span) {
	i := 0
	for i < len(t.pending) && t.pending[i].end < s.start {
		i++
	}
	j := i
	for j < len(t.pending) && t.pending[j].start <= s.end {
		s.start = min(s.start, t.pending[j].start)
		s.end = max(s.end, t.pending[j].end)
		j++
	}
	if i == j {
		if len(t.pending) == maxPendingSpans {
			t.stopped = true
			t.pending = t.pending[:0]
			return
		}
		t.pending = append(t.pending, span{})
		copy(t.pending[i+1:], t.pending[i:])
		t.pending[i] = s
		return
	}
	t.pending[i] = s
	t.pending = append(t.pending[:i+1], t.pending[j:]...)
}

// drain advances the hashed prefix over pending ranges that now adjoin it,
// reading them back from src. The caller has set busy.
func (t *prefixHash) drain() {
	for {
		t.mu.Lock()
		t.next = t.claimed
		if t.stopped || len(t.pending) == 0 || t.pending[0].start != t.next {
			t.busy = false
			t.mu.Unlock()
			return
		}
		s := t.pending[0]
		t.pending = append(t.pending[:0], t.pending[1:]...)
		t.claimed = s.end
		t.mu.Unlock()

		if err := t.hashFrom(s.start, s.end); err != nil {
			// h holds an unknown part of the range: start over at the end.
			t.mu.Lock()
			t.stopped, t.stale, t.busy = true, true, false
			t.mu.Unlock()
			return
		}
	}
}

// hashFrom hashes [start, end) of src. The caller has set busy (or is
// finish, when no writer is left).
func (t *prefixHash) hashFrom(start, end int64) error {
	if start >= end {
		return nil
	}
	if t.buf == nil {
		t.buf = t.bufs.Get().(*[]byte)
	}
	buf := *t.buf
	for start < end {
		n := min(int64(len(buf)), end-start)
		m, err := t.src.ReadAt(buf[:n], start)
		t.h.Write(buf[:m])
		start += int64(m)
		if err == io.EOF && int64(m) == n {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("read back at %d: %w", start, err)
		}
	}
	return nil
}

// invalidate makes finish hash the whole file from src (after a truncate).
func (t *prefixHash) invalidate() {
	t.mu.Lock()
	t.stopped, t.stale = true, true
	t.mu.Unlock()
}

// finish returns the hex SHA-256 of the first size bytes of the file,
// hashing from src whatever was not hashed yet. No writer may be running.
func (t *prefixHash) finish(size int64) (string, error) {
	t.mu.Lock()
	busy, next, stale := t.busy, t.next, t.stale
	t.stopped = true
	t.mu.Unlock()
	if busy {
		return "", fmt.Errorf("hash: finish while a write is in progress")
	}
	defer t.release()
	if stale || next > size {
		t.h.Reset()
		next = 0
	}
	if err := t.hashFrom(next, size); err != nil {
		return "", err
	}
	return hex.EncodeToString(t.h.Sum(nil)), nil
}

// release returns the read-back buffer to the pool. No writer may be running.
func (t *prefixHash) release() {
	if t.buf != nil {
		t.bufs.Put(t.buf)
		t.buf = nil
	}
}

// hashFile returns the hex SHA-256 of the first size bytes of src.
func hashFile(src io.ReaderAt, size int64, bufs *sync.Pool) (string, error) {
	t := newPrefixHash(src, bufs, false)
	return t.finish(size)
}
