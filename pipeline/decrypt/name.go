package decrypt

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// outputName is the name of the plaintext: the file name in the literal data
// packet when it is a plain base name, else the input's name without its
// .gpg, .pgp or .asc extension.
func outputName(literal *packet.LiteralData, inName string) string {
	if literal != nil && plainName(literal.FileName) {
		return literal.FileName
	}
	base := path.Base(strings.ReplaceAll(inName, `\`, "/"))
	for _, ext := range []string{".gpg", ".pgp", ".asc"} {
		if len(base) >= len(ext) && strings.EqualFold(base[len(base)-len(ext):], ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	if !plainName(base) {
		return "decrypted"
	}
	return base
}

// plainName reports whether name is a file name without a folder, in UTF-8
// and without control characters.
func plainName(name string) bool {
	if name == "" || name == "." || name == ".." || name == "_CONSOLE" || len(name) > 255 || !utf8.ValidString(name) ||
		strings.TrimSpace(name) != name {
		return false
	}
	for _, r := range name {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}
