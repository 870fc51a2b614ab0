package decrypt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// OpenPGP packet tags (RFC 9580 section 5) the stage tells apart before
// go-crypto parses the packets.
const (
	tagPKESK      = 1  // public-key encrypted session key
	tagSignature  = 2  //
	tagSKESK      = 3  // symmetric-key encrypted session key
	tagOPS        = 4  // one-pass signature
	tagCompressed = 8  //
	tagSED        = 9  // symmetrically encrypted data, without integrity protection
	tagMarker     = 10 //
	tagLiteral    = 11 //
	tagSEIPD      = 18 // symmetrically encrypted and integrity protected data
	tagAEAD       = 20 // AEAD encrypted data (a draft format of GnuPG 2.3+)
	tagPadding    = 21 //
)

// headerTag returns the tag of the packet whose header starts with b, and
// false if b cannot start a packet (bit 7 clear).
func headerTag(b byte) (byte, bool) {
	switch {
	case b&0x80 == 0:
		return 0, false
	case b&0x40 != 0: // new format: the tag in bits 5-0
		return b & 0x3f, true
	default: // legacy format: the tag in bits 5-2
		return (b >> 2) & 0x0f, true
	}
}

// tagName names a packet tag for error messages.
func tagName(tag byte) string {
	switch tag {
	case tagPKESK:
		return "public-key encrypted session key"
	case tagSignature:
		return "signature"
	case tagSKESK:
		return "passphrase-encrypted session key"
	case tagOPS:
		return "one-pass signature"
	case 5, 7:
		return "secret key"
	case 6, 14:
		return "public key"
	case tagCompressed:
		return "compressed data"
	case tagSED:
		return "encrypted data without integrity protection"
	case tagMarker:
		return "marker"
	case tagLiteral:
		return "literal data"
	case 13:
		return "user id"
	case tagSEIPD:
		return "encrypted data"
	case tagAEAD:
		return "AEAD encrypted data"
	case tagPadding:
		return "padding"
	}
	return fmt.Sprintf("tag %d", tag)
}

// errPacketTruncated is returned by packet bodies that end early.
var errPacketTruncated = fmt.Errorf("packet body: %w", io.ErrUnexpectedEOF)

// readPacketHeader reads the header of the next packet from r and returns
// its tag and a reader of its body, which reads across partial body lengths
// and fails with an error wrapping io.ErrUnexpectedEOF if r ends early.
func readPacketHeader(r *bufio.Reader) (byte, io.Reader, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	tag, ok := headerTag(b)
	if !ok {
		return 0, nil, errors.New("packet header: bit 7 of the tag byte is clear")
	}
	if b&0x40 == 0 { // legacy length types: 1, 2 or 4 octets, or indeterminate
		n := 1 << (b & 3)
		if b&3 == 3 {
			return tag, r, nil // the body runs to the end of r
		}
		var length int64
		for range n {
			c, err := r.ReadByte()
			if err != nil {
				return 0, nil, errPacketTruncated
			}
			length = length<<8 | int64(c)
		}
		return tag, &bodyReader{r: r, left: length}, nil
	}
	body := &bodyReader{r: r}
	if err := body.readLength(); err != nil {
		return 0, nil, err
	}
	return tag, body, nil
}

// bodyReader reads a packet body of definite or partial lengths.
type bodyReader struct {
	r       *bufio.Reader
	left    int64 // bytes left in the current part
	partial bool  // another length header follows the current part
}

// readLength reads a new-format length header.
func (p *bodyReader) readLength() error {
	b, err := p.r.ReadByte()
	if err != nil {
		return errPacketTruncated
	}
	p.partial = false
	switch {
	case b < 192:
		p.left = int64(b)
	case b < 224:
		c, err := p.r.ReadByte()
		if err != nil {
			return errPacketTruncated
		}
		p.left = int64(b-192)<<8 + int64(c) + 192
	case b < 255:
		p.left, p.partial = 1<<(b&0x1f), true
	default:
		var n int64
		for range 4 {
			c, err := p.r.ReadByte()
			if err != nil {
				return errPacketTruncated
			}
			n = n<<8 | int64(c)
		}
		p.left = n
	}
	return nil
}

func (p *bodyReader) Read(b []byte) (int, error) {
	for p.left == 0 {
		if !p.partial {
			return 0, io.EOF
		}
		if err := p.readLength(); err != nil {
			return 0, err
		}
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	if err == io.EOF {
		err = errPacketTruncated
	}
	return n, err
}
