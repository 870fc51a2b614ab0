package sshserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pkg/sftp"
)

// Limits on the names a client may use, as on common POSIX file systems.
const (
	maxNameLen = 255  // bytes per path element
	maxPathLen = 4096 // bytes per path
)

// Every file Sluice keeps for itself in an account's tree has a base name
// starting with reservedPrefix. Customers can neither see such names nor use
// them, so a client can never open, list or overwrite an upload in progress.
const (
	reservedPrefix = ".sluice-"
	tempPrefix     = ".sluice-u." // an upload being written: .sluice-u.<random>.<name>
	partialPrefix  = ".sluice-p." // a cut-off upload kept for resume: .sluice-p.<name>
	hashedPrefix   = ".sluice-h." // the same for names too long to embed: .sluice-h.<sha256 of name>
)

// reportsDir is the read-only folder the pipeline fills with reports.
const reportsDir = "/reports"

// DefaultTempPatterns are the base-name patterns (path.Match syntax) of
// temporary names that clients such as WinSCP and FileZilla upload to before
// renaming the file to its final name.
var DefaultTempPatterns = []string{"*.filepart", "*.part", "*.tmp", "*.partial", ".~*"}

// statusError is an error whose message the SFTP client sees as is, with the
// status code code (one of pkg/sftp's ErrSSHFx values, found by errors.As).
type statusError struct {
	code error
	msg  string
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.code }

func failure(format string, args ...any) error {
	return &statusError{code: sftp.ErrSSHFxFailure, msg: fmt.Sprintf(format, args...)}
}

func denied(format string, args ...any) error {
	return &statusError{code: sftp.ErrSSHFxPermissionDenied, msg: fmt.Sprintf(format, args...)}
}

func notFound(vpath string) error {
	return &statusError{code: sftp.ErrSSHFxNoSuchFile, msg: fmt.Sprintf("no such file or directory: %s", vpath)}
}

// Client-visible messages that tests and operators rely on.
const (
	msgQuotaExceeded      = "quota exceeded"
	msgFileTooLarge       = "file too large"
	msgEncryptionRequired = "this folder requires encrypted files (OpenPGP or ZIP)"
)

var (
	errQuotaExceeded      = &statusError{code: sftp.ErrSSHFxFailure, msg: msgQuotaExceeded}
	errFileTooLarge       = &statusError{code: sftp.ErrSSHFxFailure, msg: msgFileTooLarge}
	errEncryptionRequired = &statusError{code: sftp.ErrSSHFxFailure, msg: msgEncryptionRequired}
	errTransferAborted    = &statusError{code: sftp.ErrSSHFxConnectionLost, msg: "transfer cut off; the partial file is kept for resume"}
)

// cleanPath turns a client path (already made absolute and cleaned by
// pkg/sftp, but that is not relied upon) into a clean absolute virtual path,
// refusing names the tree must never hold.
func cleanPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", failure("invalid path: contains a NUL byte")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	clean := path.Clean(p)
	if len(clean) > maxPathLen {
		return "", failure("invalid path: longer than %d bytes", maxPathLen)
	}
	if clean == "/" {
		return clean, nil
	}
	for _, elem := range strings.Split(clean[1:], "/") {
		if err := checkName(elem); err != nil {
			return "", err
		}
	}
	return clean, nil
}

// checkName checks one path element.
func checkName(elem string) error {
	if len(elem) > maxNameLen {
		return failure("invalid name: longer than %d bytes", maxNameLen)
	}
	for i := 0; i < len(elem); i++ {
		if c := elem[i]; c < 0x20 || c == 0x7f {
			return failure("invalid name: contains control characters")
		}
	}
	if strings.HasPrefix(elem, reservedPrefix) {
		return failure("invalid name: names starting with %s are reserved", reservedPrefix)
	}
	return nil
}

// rel turns a clean virtual path into a path relative to the account root.
func rel(vpath string) string {
	if vpath == "/" {
		return "."
	}
	return vpath[1:]
}

// readOnly reports whether the clean virtual path lies in /reports.
func readOnly(vpath string) bool {
	return vpath == reportsDir || strings.HasPrefix(vpath, reportsDir+"/")
}

// tempName returns a fresh name for the file an upload of base is written
// to. The name embeds base (shortened if need be) to help operators.
func tempName(base string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := tempPrefix + hex.EncodeToString(b[:]) + "." + base
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return name
}

// partialName returns the name under which a cut-off upload of base is kept
// for resume: derived from base alone, so that a later session finds it.
func partialName(base string) string {
	if len(partialPrefix)+len(base) <= maxNameLen {
		return partialPrefix + base
	}
	sum := sha256.Sum256([]byte(base))
	return hashedPrefix + hex.EncodeToString(sum[:])
}

// partialTarget returns the name of the file a partial file belongs to, if
// the partial's name says so (names too long to embed are not listed).
func partialTarget(name string) (string, bool) {
	target, ok := strings.CutPrefix(name, partialPrefix)
	return target, ok && target != ""
}

// tempMatcher tells temporary names (x.filepart, x.part, ...) from final ones.
type tempMatcher []string

func newTempMatcher(patterns []string) (tempMatcher, error) {
	for _, p := range patterns {
		if p == "" {
			return nil, errors.New("temp pattern: empty pattern")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("temp pattern %q: %w", p, err)
		}
	}
	return tempMatcher(patterns), nil
}

// match reports whether base is a temporary name.
func (m tempMatcher) match(base string) bool {
	for _, p := range m {
		if ok, _ := path.Match(p, base); ok {
			return true
		}
	}
	return false
}
