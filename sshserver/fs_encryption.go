package sshserver

import (
	"bytes"
	"errors"
	"io"

	"github.com/sluicehq/sluice/pipeline"
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
	}
	// A binary OpenPGP message whose first packet can begin an encrypted
	// message (session keys, marker, encrypted data); the packet's body is
	// checked too, so text whose first byte has bit 7 set (UTF-8 "Ä" reads
	// as a tag 3 header) does not pass.
	switch tag, ok := pipeline.OpenPGPPacketTag(head); {
	case !ok:
		return false
	case tag == 1, tag == 3, tag == 10, tag == 18, tag == 20:
		return true
	}
	return false
}
