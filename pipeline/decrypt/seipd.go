package decrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1" //nolint:gosec // SHA-1 is what SEIPD v1's modification detection code is made of
	"crypto/subtle"
	"errors"
	"hash"
	"io"
)

// The ways a SEIPD v1 body fails its check.
var (
	errMDCMismatch = errors.New("modification detection code mismatch")
	errMDCShort    = errors.New("encrypted data shorter than its prefix and modification detection code")
)

const (
	mdcTrailerLen = 22   // the MDC packet: tag 0xD3, length 0x14, SHA-1
	mdcTag        = 0xD3 // new-format header of packet tag 19
	mdcLen        = 0x14
	cfbChunk      = 256 << 10
)

// mdcReader decrypts the body of a SEIPD v1 packet (RFC 9580 section 5.13.1)
// encrypted with AES: CFB mode with an all-zero IV over the whole body, whose
// plaintext is a random prefix (the block size plus two bytes), the message,
// and a modification detection code packet holding the SHA-1 of everything
// before its hash. It releases plaintext as it goes but always holds back the
// last 22 bytes; Read returns io.EOF only if the code matches and
// errMDCMismatch (or the source's error) otherwise, so a short or modified
// body never ends cleanly. Close drains the body and reports the same.
//
// It is go-crypto's SEIPD v1 reader with whole-block CFB: go-crypto's
// byte-at-a-time OCFB decrypter runs at less than half the speed.
type mdcReader struct {
	src   io.Reader
	block cipher.Block
	reg   [aes.BlockSize]byte // the previous ciphertext block
	h     hash.Hash

	ct         []byte // ciphertext read but not decrypted: carry bytes at the front
	carry      int
	pt         []byte // decrypted plaintext, pt[start:end] not yet released
	start, end int
	prefix     bool // the prefix was hashed and skipped
	eof        bool // src is exhausted and everything decrypted
	err        error
}

// newMDCReader returns an mdcReader of body with the AES key.
func newMDCReader(body io.Reader, key []byte) (*mdcReader, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &mdcReader{
		src:   body,
		block: block,
		h:     sha1.New(), //nolint:gosec // see the import
		ct:    make([]byte, cfbChunk),
		pt:    make([]byte, cfbChunk+2*aes.BlockSize+mdcTrailerLen),
	}, nil
}

func (r *mdcReader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		if avail := r.end - r.start - mdcTrailerLen; r.prefix && avail > 0 {
			n := copy(p[:min(len(p), avail)], r.pt[r.start:])
			r.h.Write(p[:n])
			r.start += n
			return n, nil
		}
		if r.eof {
			r.err = r.check()
			return 0, r.err
		}
		r.fill()
	}
}

// Close drains the body and reports whether its code matched.
func (r *mdcReader) Close() error {
	var buf [4096]byte
	for {
		_, err := r.Read(buf[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fill reads and decrypts the next chunk of ciphertext.
func (r *mdcReader) fill() {
	// Keep the unreleased plaintext (at most the trailer plus a prefix).
	r.end = copy(r.pt, r.pt[r.start:r.end])
	r.start = 0

	n := r.carry
	for n < len(r.ct) {
		m, err := r.src.Read(r.ct[n:])
		n += m
		if err == io.EOF {
			r.eof = true
			break
		}
		if err != nil {
			r.err = err
			return
		}
	}
	full := n &^ (aes.BlockSize - 1)
	if r.eof {
		full = n // the last block may be partial
	}
	r.decrypt(r.pt[r.end:r.end+full], r.ct[:full])
	r.end += full
	r.carry = copy(r.ct, r.ct[full:n])

	if !r.prefix && r.end-r.start >= aes.BlockSize+2 {
		r.h.Write(r.pt[r.start : r.start+aes.BlockSize+2])
		r.start += aes.BlockSize + 2
		r.prefix = true
	}
}

// decrypt CFB-decrypts src, whole blocks but for the very last, into dst:
// the keystream of each block is the encryption of the previous ciphertext
// block, so all of a chunk's keystream is computed before one bulk XOR.
func (r *mdcReader) decrypt(dst, src []byte) {
	if len(src) == 0 {
		return
	}
	prev := r.reg[:]
	var ks [aes.BlockSize]byte
	for i := 0; i < len(src); i += aes.BlockSize {
		if i+aes.BlockSize <= len(src) {
			r.block.Encrypt(dst[i:i+aes.BlockSize], prev)
		} else { // a partial last block
			r.block.Encrypt(ks[:], prev)
			copy(dst[i:], ks[:])
		}
		prev = src[i:min(i+aes.BlockSize, len(src))]
	}
	if len(src)%aes.BlockSize == 0 {
		copy(r.reg[:], src[len(src)-aes.BlockSize:])
	}
	subtle.XORBytes(dst, dst[:len(src)], src)
}

// check verifies the modification detection code once src is exhausted.
func (r *mdcReader) check() error {
	if !r.prefix || r.end-r.start != mdcTrailerLen {
		return errMDCShort
	}
	trailer := r.pt[r.start:r.end]
	r.h.Write(trailer[:2])
	sum := r.h.Sum(nil)
	if subtle.ConstantTimeCompare(sum, trailer[2:]) != 1 || trailer[0] != mdcTag || trailer[1] != mdcLen {
		return errMDCMismatch
	}
	return io.EOF
}
