package sshserver

import (
	"bytes"
	"errors"
	"io"
)

// headSize is how much of a file isEncrypted reads.
const headSize = 512

var (
	zipLocalHeader = []byte("PK\x03\x04")
	zipEmpty       = []byte("PK\x05\x06")
	zipSpanned     = []byte("PK\x07\x08")
	pgpArmor       = []byte("-----BEGIN PGP MESSAGE-----")
)

// isEncrypted reports whether the file src starts like an OpenPGP message
// or a ZIP archive, the two encrypted formats the pipeline opens. It is a
// quick check made when an upload closes, so that a client sending plain
// files to a folder that requires encryption hears it at once; the pipeline
// checks the contents for real.
func isEncrypted(src io.ReaderAt) (bool, error) {
	var buf [headSize]byte
	n, err := src.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return looksEncrypted(buf[:n]), nil
}

// looksEncrypted reports whether head, the first bytes of a file, starts a
// ZIP archive (local file header, empty archive, spanned archive), an
// ASCII-armored OpenPGP message, or a binary OpenPGP message whose first
// packet can begin an encrypted message.
func looksEncrypted(head []byte) bool {
	switch {
	case bytes.HasPrefix(head, zipLocalHeader), bytes.HasPrefix(head, zipEmpty), bytes.HasPrefix(head, zipSpanned):
		return true
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), pgpArmor):
		return true
	case len(head) == 0 || head[0]&0x80 == 0:
		return false
	}
	// A binary OpenPGP packet header (RFC 9580, section 4.2): bit 7 set; bit 6
	// tells the new format (tag in bits 5-0) from the legacy one (bits 5-2).
	// Checking the tag keeps files that merely start with a high byte (a
	// UTF-8 byte order mark, Latin-1 text) from passing.
	tag := head[0] & 0x3f
	if head[0]&0x40 == 0 {
		tag = (head[0] >> 2) & 0x0f
	}
	switch tag {
	case 1, // public-key encrypted session key
		3,  // symmetric-key encrypted session key
		9,  // symmetrically encrypted data (legacy)
		10, // marker, which may precede the session keys
		18, // symmetrically encrypted and integrity protected data
		20: // AEAD encrypted data (GnuPG's OCB mode)
		return true
	}
	return false
}
