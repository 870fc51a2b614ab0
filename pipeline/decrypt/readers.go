package decrypt

import (
	"errors"
	"io"
	"sync/atomic"
)

// Bounds of the packets around the content: they are small in every real
// message, and go-crypto keeps state for each of them (a hash per one-pass
// signature, prepended to a slice, so that their cost is quadratic).
const (
	maxKeyPackets     = 1000     // session key packets before the encrypted data
	maxKeyAttempts    = 16       // session key decryptions tried per message
	maxArmorHeader    = 64 << 10 // leading whitespace, BEGIN line and armor headers
	maxPreLiteral     = 64 << 10 // packets before the literal data: one-pass signatures, old-style signatures
	maxOverhead       = 2 << 20  // non-content bytes around the literal data, plus 1/256 of it
	expansionFloor    = 1 << 20  // inflated bytes always allowed, whatever the ratio
	inflateSlack      = 1 << 20  // inflated bytes allowed beyond max_output_bytes (packet headers, signatures)
	maxSkippedPackets = 16       // marker, padding or unknown packets before or after the encrypted data
)

// source reads the blob and counts the bytes read. It records the first read
// error (a blob store fault, retried, not the customer's) and fails every
// read once the context is cancelled (see Process). The read-ahead goroutine
// reads it while the caller's checks the expansion ratio: n is atomic; err is
// read once the read-ahead stopped.
type source struct {
	r         io.Reader
	n         atomic.Int64
	err       error
	cancelled atomic.Pointer[error]
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.cancelled.Load(); err != nil {
		return 0, *err
	}
	n, err := s.r.Read(p)
	s.n.Add(int64(n))
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// cancel makes every later read fail with err.
func (s *source) cancel(err error) { s.cancelled.Store(&err) }

// capReader fails once more than left bytes were read through it.
type capReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errCapExceeded = errors.New("read limit exceeded")

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.exceeded = true
		return 0, errCapExceeded
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// recorder remembers the first error other than io.EOF read through it: an
// armor decoding error, told apart from the errors of the packets inside.
type recorder struct {
	r   io.Reader
	err error
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// limits holds what one message may produce and what it produced so far;
// the first limit a reader or the writer hits is kept in err.
type limits struct {
	maxOutput int64
	ratio     int64
	src       *source
	inflated  int64 // bytes out of the leading compressed packet
	gated     int64 // bytes go-crypto read: packets around and inside the literal data
	written   int64 // content bytes written
	preamble  bool  // go-crypto is still reading the packets before the literal data
	err       error
}

// fail records err as the limit hit and returns it.
func (l *limits) fail(err error) error {
	if l.err == nil {
		l.err = err
	}
	return l.err
}

func (l *limits) tooLarge() error {
	return l.fail(reject(ErrTooLarge, "the decrypted content exceeds %d bytes (pipeline.decrypt.max_output_bytes)", l.maxOutput))
}

// inflater counts the bytes out of a decompressor and stops a compression
// bomb: more than max_output_bytes, or more than ratio times the bytes of
// the message read so far.
type inflater struct {
	r io.Reader
	l *limits
}

func (f *inflater) Read(p []byte) (int, error) {
	if f.l.err != nil {
		return 0, f.l.err
	}
	n, err := f.r.Read(p)
	f.l.inflated += int64(n)
	switch {
	case f.l.inflated > f.l.maxOutput+inflateSlack:
		return 0, f.l.tooLarge()
	case f.l.inflated > expansionFloor && f.l.inflated/f.l.ratio > f.l.src.n.Load():
		return 0, f.l.fail(reject(ErrExpansion, "the compressed data expands more than %d times (pipeline.decrypt.max_expansion_ratio): refused as a compression bomb", f.l.ratio))
	}
	return n, err
}

// gate is what go-crypto reads the message from. It bounds the packets
// before the literal data and the non-content bytes around it.
type gate struct {
	r io.Reader
	l *limits
}

func (g *gate) Read(p []byte) (int, error) {
	if g.l.err != nil {
		return 0, g.l.err
	}
	n, err := g.r.Read(p)
	g.l.gated += int64(n)
	switch {
	case g.l.preamble && g.l.gated > maxPreLiteral:
		return 0, g.l.fail(reject(ErrMalformed, "more than %d KiB of packets before the content (too many signatures)", maxPreLiteral>>10))
	case g.l.gated-g.l.written > maxOverhead+g.l.written/256:
		return 0, g.l.fail(reject(ErrMalformed, "too many packets around the content (signatures or tiny partial lengths)"))
	}
	return n, err
}
