package unzip

import (
	"crypto/sha256"
	"hash"
	"hash/crc32"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/pipeline"
)

// bufSize is the size of the buffers an entry is read and written with.
const bufSize = 256 << 10

// buffers is a pool of bufSize buffers, made once per archive and shared
// by its entries one after another.
type buffers chan []byte

// newBuffers returns a pool of n buffers.
func newBuffers(n int) buffers {
	b := make(buffers, n)
	for range n {
		b <- make([]byte, bufSize)
	}
	return b
}

// sink hashes an entry's plaintext and writes it to its blob on a
// goroutine of its own, so that inflating, the costly part, runs on one
// core while hashing and writing run on another. Buffers go round: the
// producer takes one from the pool, fills it and hands it over with put;
// the sink's goroutine consumes it and returns it to the pool.
type sink struct {
	w    pipeline.BlobWriter
	sum  hash.Hash
	crc  hash.Hash32
	pool buffers
	full chan []byte
	done chan struct{}
	once sync.Once
	err  atomic.Pointer[error] // the first write error
}

// newSink starts a sink writing to w with buffers from pool.
func newSink(w pipeline.BlobWriter, pool buffers) *sink {
	s := &sink{
		w: w, sum: sha256.New(), crc: crc32.NewIEEE(), pool: pool,
		full: make(chan []byte, cap(pool)),
		done: make(chan struct{}),
	}
	go s.run()
	return s
}

func (s *sink) run() {
	defer close(s.done)
	for b := range s.full {
		if s.err.Load() == nil {
			s.sum.Write(b)
			s.crc.Write(b)
			if _, err := s.w.Write(b); err != nil {
				s.err.Store(&err)
			}
		}
		s.pool <- b[:cap(b)]
	}
}

// buffer returns an empty buffer, waiting for the sink to free one.
func (s *sink) buffer() []byte { return <-s.pool }

// put hands b, filled, to the sink.
func (s *sink) put(b []byte) { s.full <- b }

// failed returns the sink's write error, nil while there is none.
func (s *sink) failed() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// stop waits until everything put is written and returns the first write
// error. It may be called more than once.
func (s *sink) stop() error {
	s.once.Do(func() { close(s.full) })
	<-s.done
	return s.failed()
}

// release returns an unused buffer to the pool.
func (s *sink) release(b []byte) { s.pool <- b[:cap(b)] }
