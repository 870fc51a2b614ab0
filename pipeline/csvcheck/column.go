package csvcheck

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"

	"github.com/sluicehq/sluice/credentials"
)

// kind is a column type.
type kind uint8

const (
	kindString kind = iota
	kindInteger
	kindDecimal
	kindDate
	kindDatetime
	kindBoolean
	kindEmail
	kindEnum
	kindRegex
)

var kinds = map[string]kind{
	"string": kindString, "integer": kindInteger, "decimal": kindDecimal, "date": kindDate,
	"datetime": kindDatetime, "boolean": kindBoolean, "email": kindEmail, "enum": kindEnum, "regex": kindRegex,
}

// column is a schema column compiled for checking values. It is immutable.
type column struct {
	name     string
	kind     kind
	required bool
	unique   bool
	maxLen   int
	layout   *layout             // date, datetime
	values   [][]byte            // enum, when short
	valueSet map[string]struct{} // enum, when long
	re       *pattern            // regex, anchored
	invalid  string              // the message for a value of the wrong type
}

// maxLinearEnum is the size up to which enum values are compared one by one
// rather than through a map.
const maxLinearEnum = 8

// compileColumn prepares c. Regex patterns are anchored at both ends: a
// value must match as a whole, as a pattern in a schema is read.
func compileColumn(c credentials.Column) (*column, error) {
	k, ok := kinds[c.Type]
	if !ok {
		return nil, fmt.Errorf("column %q: unknown type %q", c.Name, c.Type)
	}
	col := &column{name: c.Name, kind: k, required: c.Required, unique: c.Unique, maxLen: c.MaxLen}
	switch k {
	case kindString:
	case kindInteger:
		col.invalid = "not an integer: digits with an optional sign, at most 9223372036854775807 either way"
	case kindDecimal:
		col.invalid = "not a decimal number: digits with an optional sign and . as the decimal point (no thousands separators, no exponent)"
	case kindDate, kindDatetime:
		format := c.Format
		if format == "" {
			format = credentials.DefaultDateLayout
			if k == kindDatetime {
				format = credentials.DefaultDatetimeLayout
			}
		}
		col.layout = compileLayout(format)
		what := "date"
		if k == kindDatetime {
			what = "date and time"
		}
		col.invalid = fmt.Sprintf("not a valid %s of the form %s (Go layout %q)", what, col.layout.human, format)
	case kindBoolean:
		col.invalid = "not a boolean: true, false, yes, no, 1 or 0"
	case kindEmail:
		col.invalid = "not an email address of the form name@example.com (no display name, no angle brackets)"
	case kindEnum:
		if len(c.Values) == 0 {
			return nil, fmt.Errorf("column %q: an enum needs values", c.Name)
		}
		if len(c.Values) <= maxLinearEnum {
			for _, v := range c.Values {
				col.values = append(col.values, []byte(v))
			}
		} else {
			col.valueSet = make(map[string]struct{}, len(c.Values))
			for _, v := range c.Values {
				col.valueSet[v] = struct{}{}
			}
		}
		col.invalid = "not one of the allowed values " + listValues(c.Values)
	case kindRegex:
		re, err := compilePattern(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("column %q: pattern %q: %w", c.Name, c.Pattern, err)
		}
		col.re = re
		col.invalid = fmt.Sprintf("does not match the pattern %s", c.Pattern)
	}
	return col, nil
}

// listValues quotes up to ten values for a message.
func listValues(vs []string) string {
	var b strings.Builder
	for i, v := range vs {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(vs)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", v)
	}
	return b.String()
}

// valid reports whether b, a non-empty value, has the column's type.
func (c *column) valid(b []byte) bool {
	switch c.kind {
	case kindInteger:
		_, ok := parseInt(b)
		return ok
	case kindDecimal:
		return isDecimal(b)
	case kindDate, kindDatetime:
		return c.layout.valid(b)
	case kindBoolean:
		return isBoolean(b)
	case kindEmail:
		return isEmail(b)
	case kindEnum:
		if c.valueSet != nil {
			_, ok := c.valueSet[string(b)]
			return ok
		}
		for _, v := range c.values {
			if bytes.Equal(v, b) {
				return true
			}
		}
		return false
	case kindRegex:
		return c.re.match(b)
	}
	return true
}

// parseInt parses a decimal integer with an optional sign that fits in 64
// bits.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg, b = b[0] == '-', b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// isDecimal reports whether b is a plain decimal number: an optional sign,
// digits, and an optional fraction after a point ("1", "-2.50", ".5", "3.").
func isDecimal(b []byte) bool {
	i, digits := 0, 0
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		i++
	}
	for ; i < len(b) && isDigit(b[i]); i++ {
		digits++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && isDigit(b[i]); i++ {
			digits++
		}
	}
	return digits > 0 && i == len(b)
}

// isBoolean reports whether b is true, false, yes, no, 1 or 0, in any case.
func isBoolean(b []byte) bool {
	var word string
	switch len(b) {
	case 1:
		return b[0] == '0' || b[0] == '1'
	case 2:
		word = "no"
	case 3:
		word = "yes"
	case 4:
		word = "true"
	case 5:
		word = "false"
	default:
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != word[i] {
			return false
		}
	}
	return true
}

// isEmail is the pragmatic check of an email address: what
// net/mail.ParseAddress accepts as a bare address (no display name, no
// angle brackets, no comment), with a local part of at most 64 bytes and a
// dotted domain, at most 254 bytes in all. Plain ASCII addresses are checked
// without it: simpleEmail accepts a subset of the same rule.
func isEmail(b []byte) bool {
	return simpleEmail(b) || parsedEmail(b)
}

// parsedEmail is isEmail's rule through net/mail.
func parsedEmail(b []byte) bool {
	at := bytes.LastIndexByte(b, '@')
	if at < 1 || at > 64 || len(b) > 254 {
		return false
	}
	domain := b[at+1:]
	if bytes.IndexByte(domain, '.') <= 0 || domain[len(domain)-1] == '.' {
		return false
	}
	s := string(b)
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// emailChars classes the bytes of simple addresses: atext (RFC 5322:
// letters, digits and !#$%&'*+-/=?^_`{|}~) may make a local part, label
// (letters, digits, hyphen) a domain label.
var emailChars = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = atext|label, atext|label
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = atext | label
	}
	for _, c := range "!#$%&'*+/=?^_`{|}~" {
		t[c] = atext
	}
	t['-'] = atext | label
	return t
}()

const (
	atext = 1 << iota
	label
)

// simpleEmail accepts ASCII addresses: a dot-atom local part of at most 64
// bytes, @, and a domain of at least two dot-separated labels of letters,
// digits and hyphens; at most 254 bytes in all.
func simpleEmail(b []byte) bool {
	at := bytes.IndexByte(b, '@')
	if at < 1 || at > 64 || len(b) > 254 {
		return false
	}
	prev := byte('.')
	for _, c := range b[:at] {
		if c == '.' {
			if prev == '.' {
				return false
			}
		} else if emailChars[c]&atext == 0 {
			return false
		}
		prev = c
	}
	if prev == '.' {
		return false
	}
	labels, n := 0, 0
	for _, c := range b[at+1:] {
		switch {
		case emailChars[c]&label != 0:
			n++
		case c == '.' && n > 0:
			labels, n = labels+1, 0
		default:
			return false
		}
	}
	return n > 0 && labels >= 1
}

// isFormula reports whether b starts like a spreadsheet formula (=, +, -,
// @) without being a plain number: "-5" in a text column is a number.
func isFormula(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '=', '@':
		return true
	case '+', '-':
		return !isDecimal(b)
	}
	return false
}

// isBlank reports whether b is empty or only spaces and tabs: what a
// required column refuses.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
