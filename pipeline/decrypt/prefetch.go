package decrypt

import (
	"errors"
	"io"
)

// prefetchChunks is how many chunks of decrypted data are read ahead.
const prefetchChunks = 2

// prefetch reads the decrypted data ahead on a goroutine of its own: the
// blob's reads, AES and the SHA-1 of the modification detection code run
// there while the caller inflates and parses the previous chunk. Errors come
// in order after the data before them, io.EOF included. stop ends the
// goroutine and waits for it; Close also closes the decrypted data (the
// integrity check) on the caller's goroutine. Not safe for concurrent use.
type prefetch struct {
	rc   io.ReadCloser
	full chan chunk
	free chan []byte
	quit chan struct{}
	done chan struct{}

	cur     chunk // the chunk being read
	off     int
	stopped bool
}

// chunk is a piece of decrypted data and the error that ended it, if any.
type chunk struct {
	b   []byte
	err error
}

func newPrefetch(rc io.ReadCloser) *prefetch {
	p := &prefetch{
		rc:   rc,
		full: make(chan chunk, prefetchChunks),
		free: make(chan []byte, prefetchChunks+1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range prefetchChunks + 1 {
		p.free <- make([]byte, cfbChunk)
	}
	go p.run()
	return p
}

// run reads chunks until an error (io.EOF included) or stop.
func (p *prefetch) run() {
	defer close(p.done)
	for {
		var b []byte
		select {
		case b = <-p.free:
		case <-p.quit:
			return
		}
		n, err := 0, error(nil)
		for n < len(b) && err == nil {
			var m int
			m, err = p.rc.Read(b[n:])
			n += m
		}
		select {
		case p.full <- chunk{b: b[:n], err: err}:
		case <-p.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *prefetch) Read(b []byte) (int, error) {
	for p.off == len(p.cur.b) {
		switch {
		case p.cur.err != nil:
			return 0, p.cur.err
		case p.stopped:
			return 0, errStopped
		}
		if p.cur.b != nil {
			p.free <- p.cur.b[:cap(p.cur.b)]
		}
		p.cur, p.off = <-p.full, 0
	}
	n := copy(b, p.cur.b[p.off:])
	p.off += n
	return n, nil
}

// stop ends the read-ahead and waits for it. It is idempotent.
func (p *prefetch) stop() {
	if !p.stopped {
		p.stopped = true
		close(p.quit)
		<-p.done
	}
}

// Close stops the read-ahead and closes the decrypted data, which checks its
// integrity, reading it to its end if needed.
func (p *prefetch) Close() error {
	p.stop()
	return p.rc.Close()
}

// errStopped is what a stopped prefetch reads.
var errStopped = errors.New("read-ahead stopped")
