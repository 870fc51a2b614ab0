package credentials

import (
	"regexp"
	"unicode/utf8"
)

var (
	// credentialName is DESIGN.md's rule for credential names.
	credentialName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	// subjectName is the same rule without '.', for names that become NATS
	// subject tokens (sluice.ready.<account>.<feed>): accounts and feeds.
	subjectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// CheckCredentialName reports whether name is a valid credential name:
// 1–63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
func CheckCredentialName(name string) error {
	return checkName("name", name, credentialName, "lower-case letters, digits, '.', '_' and '-'")
}

// CheckAccountName reports whether name is a valid account or feed name. It
// is the credential rule without '.', because these names are tokens of NATS
// subjects.
func CheckAccountName(field, name string) error {
	return checkName(field, name, subjectName, "lower-case letters, digits, '_' and '-'")
}

func checkName(field, name string, re *regexp.Regexp, alphabet string) error {
	switch {
	case name == "":
		return invalid(field, "is required")
	case utf8.RuneCountInString(name) > 63:
		return invalid(field, "must be at most 63 characters (got %d)", utf8.RuneCountInString(name))
	case !re.MatchString(name):
		return invalid(field, "must match %s: %s, starting with a letter or digit", re.String(), alphabet)
	}
	return nil
}
