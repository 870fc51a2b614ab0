package pipeline

import "bytes"

// Kind is what a file's first bytes say it is.
type Kind int

// The kinds of content the pipeline tells apart. The chain is chosen by
// content, never by file name.
const (
	KindOther   Kind = iota // anything else: validated as CSV
	KindOpenPGP             // an OpenPGP message, binary or ASCII-armored
	KindZIP                 // a ZIP archive
)

// SniffLen is how many leading bytes Sniff needs at most.
const SniffLen = 512

// Sniff tells the kind of a file from its first bytes (up to SniffLen).
func Sniff(head []byte) Kind {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")), bytes.HasPrefix(head, []byte("PK\x07\x08")):
		return KindZIP
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN PGP MESSAGE-----")):
		return KindOpenPGP
	case len(head) < 2 || head[0]&0x80 == 0:
		return KindOther
	}
	// A binary OpenPGP packet header (RFC 9580 section 4.2): bit 7 set; bit
	// 6 tells the new format (tag in bits 5-0) from the legacy one (5-2).
	tag := head[0] & 0x3f
	if head[0]&0x40 == 0 {
		tag = (head[0] >> 2) & 0x0f
	}
	switch tag {
	case 1, // public-key encrypted session key
		3,  // symmetric-key encrypted session key
		4,  // one-pass signature (a signed message)
		8,  // compressed data
		9,  // symmetrically encrypted data, without integrity protection
		10, // marker
		11, // literal data
		18, // symmetrically encrypted and integrity protected data
		20: // AEAD encrypted data
		return KindOpenPGP
	}
	return KindOther
}
