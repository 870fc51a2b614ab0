package unzip

import (
	"archive/zip"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// maxNameLen bounds an entry name, in bytes as stored.
const maxNameLen = 1024

// flagUTF8 is general purpose bit 11: the name is UTF-8.
const flagUTF8 = 0x800

// cleanName checks the name of an entry and returns it cleaned (no ".",
// no empty elements, no trailing slash), for use as the output's Name. Any
// name that could write outside a folder it was extracted to is refused:
// absolute, with a drive letter, climbing out with "..", holding a
// backslash (a separator on Windows), a NUL or another control character.
// A name that is not UTF-8 and not flagged as such is decoded from code
// page 437, the ZIP specification's default.
func cleanName(f *zip.File) (string, error) {
	name := f.Name
	switch {
	case len(name) > maxNameLen:
		return "", unsafeName(name, fmt.Sprintf("is longer than %d bytes", maxNameLen))
	case !utf8.ValidString(name) && f.Flags&flagUTF8 != 0:
		return "", unsafeName(name, "is not valid UTF-8")
	case !utf8.ValidString(name):
		decoded, err := charmap.CodePage437.NewDecoder().String(name)
		if err != nil {
			return "", unsafeName(name, "is not text")
		}
		name = decoded
	}
	switch {
	case name == "":
		return "", unsafeName(name, "is empty")
	case strings.ContainsFunc(name, isControl):
		return "", unsafeName(name, "holds a NUL or another control character")
	case strings.Contains(name, `\`):
		return "", unsafeName(name, "holds a backslash")
	case strings.HasPrefix(name, "/") || len(name) >= 2 && name[1] == ':' && isLetter(name[0]):
		return "", unsafeName(name, "is an absolute path")
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", unsafeName(name, `climbs out of its folder with ".."`)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", unsafeName(name, "names no file")
	}
	return clean, nil
}

// isControl reports control characters (C0, DEL, C1) and the bidirectional
// overrides and isolates, which make a name in a report read as another.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// unsafeName wraps ErrUnsafeName with the name and the reason.
func unsafeName(name, reason string) error {
	return fmt.Errorf("entry %s %s: %w", quote(name), reason, ErrUnsafeName)
}

// ignored reports whether a cleaned name is macOS Finder litter, which is
// skipped without a word.
func ignored(name string) bool {
	return name == "__MACOSX" || strings.HasPrefix(name, "__MACOSX/") || path.Base(name) == ".DS_Store"
}

// foldName is the key under which two names are the same file on a
// case-insensitive file system: NFC-normalised and lower-cased.
func foldName(name string) string {
	return strings.ToLower(norm.NFC.String(name))
}

// quote quotes a name for a message, cut to 100 characters.
func quote(name string) string {
	if utf8.RuneCountInString(name) > 100 {
		r := []rune(name)
		return fmt.Sprintf("%q…", string(r[:100]))
	}
	return fmt.Sprintf("%q", name)
}
