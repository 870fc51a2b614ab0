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
//
// A binary OpenPGP message is recognised by its first packet: a valid
// header (RFC 9580 section 4.2) of a tag that can begin a message, followed
// by a body whose first byte is a version or format that packet can have.
// Checking the body keeps text whose first byte merely has bit 7 set (UTF-8
// "Ä" is 0xC3, which reads as a new-format tag 3 header) from passing.
func Sniff(head []byte) Kind {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")), bytes.HasPrefix(head, []byte("PK\x07\x08")):
		return KindZIP
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN PGP MESSAGE-----")):
		return KindOpenPGP
	}
	if _, ok := OpenPGPPacketTag(head); ok {
		return KindOpenPGP
	}
	return KindOther
}

// OpenPGPPacketTag returns the tag of the OpenPGP packet head starts with,
// when head starts with a plausible first packet of a binary OpenPGP
// message: a valid header of a tag that can begin a message and a body whose
// first byte is a version or format that packet can have.
func OpenPGPPacketTag(head []byte) (tag byte, ok bool) {
	if ok := len(head) >= 3 && head[0]&0x80 != 0; !ok {
		return 0, false
	}
	tag, ok = packetTag(head)
	return tag, ok
}

func packetTag(head []byte) (byte, bool) {
	var tag byte
	var body int           // offset of the packet body
	if head[0]&0x40 != 0 { // new format: tag in bits 5-0, then a length
		tag = head[0] & 0x3f
		switch l := head[1]; {
		case l < 192:
			body = 2
		case l < 224:
			body = 3
		case l == 255:
			body = 6
		default: // partial body length: only data packets may use it
			if tag != 8 && tag != 9 && tag != 11 && tag != 18 && tag != 20 {
				return tag, false
			}
			body = 2
		}
	} else { // legacy format: tag in bits 5-2, length type in bits 1-0
		tag = (head[0] >> 2) & 0x0f
		body = [4]int{2, 3, 5, 1}[head[0]&0x03]
	}
	if body >= len(head) {
		return tag, false
	}
	b := head[body]
	switch tag {
	case 1: // public-key encrypted session key: version 3 or 6
		return tag, b == 3 || b == 6
	case 3: // symmetric-key encrypted session key: version 4, 5 or 6
		return tag, b == 4 || b == 5 || b == 6
	case 4: // one-pass signature: version 3 or 6
		return tag, b == 3 || b == 6
	case 8: // compressed data: algorithm 0-3
		return tag, b <= 3
	case 10: // marker: "PGP"
		return tag, bytes.HasPrefix(head[body:], []byte("PGP"))
	case 11: // literal data: format octet
		return tag, bytes.IndexByte([]byte("btu1lm"), b) >= 0
	case 18: // symmetrically encrypted and integrity protected data: version 1 or 2
		return tag, b == 1 || b == 2
	case 20: // AEAD encrypted data (GnuPG's OCB mode): version 1
		return tag, b == 1
	}
	return tag, false
}
