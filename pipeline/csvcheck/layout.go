package csvcheck

import (
	"strings"
	"time"
)

// layout checks values of a date or datetime column against a Go time
// layout. time.Parse is the rule; layouts made only of the numeric elements
// 2006 01 02 15 04 05, the zones Z07:00 and -07:00 and the separators
// "-/:. T," also get a fast path that checks digits and ranges without
// allocating. The fast path is sound — it accepts nothing time.Parse
// rejects (FuzzFastPaths checks it) — but not complete: whatever it does not
// accept goes to time.Parse.
type layout struct {
	src   string
	parts []part // nil: no fast path
	human string // e.g. YYYY-MM-DD, for messages
	iso   int    // 1: the layout is 2006-01-02, 2: time.RFC3339, with code of their own
}

type token uint8

const (
	tokLit token = iota
	tokYear
	tokMonth
	tokDay
	tokHour
	tokMinute
	tokSecond
	tokZoneZ // Z07:00: Z or ±hh:mm
	tokZone  // -07:00: ±hh:mm
)

type part struct {
	tok token
	lit byte
}

var humanLayout = strings.NewReplacer(
	"Z07:00", "±hh:mm", "-07:00", "±hh:mm", "2006", "YYYY", "01", "MM", "02", "DD",
	"15", "hh", "04", "mm", "05", "ss", ".000000000", ".fffffffff", ".000000", ".ffffff",
	".000", ".fff", "Jan", "Mon",
)

// compileLayout prepares src, a layout credentials already checked.
func compileLayout(src string) *layout {
	l := &layout{src: src, human: humanLayout.Replace(src)}
	var parts []part
	var y, m, d bool
	for i := 0; i < len(src); {
		rest := src[i:]
		var tok token
		n := 2
		switch {
		case strings.HasPrefix(rest, "2006"):
			tok, n, y = tokYear, 4, true
		case strings.HasPrefix(rest, "Z07:00"):
			tok, n = tokZoneZ, 6
		case strings.HasPrefix(rest, "-07:00"):
			tok, n = tokZone, 6
		case strings.HasPrefix(rest, "01"):
			tok, m = tokMonth, true
		case strings.HasPrefix(rest, "02"):
			tok, d = tokDay, true
		case strings.HasPrefix(rest, "15"):
			tok = tokHour
		case strings.HasPrefix(rest, "04"):
			tok = tokMinute
		case strings.HasPrefix(rest, "05"):
			tok = tokSecond
		case isLiteral(src, i):
			tok, n = tokLit, 1
		default:
			return l
		}
		parts = append(parts, part{tok: tok, lit: src[i]})
		i += n
	}
	if y && m && d {
		l.parts = parts
	}
	switch src {
	case "2006-01-02":
		l.iso = 1
	case time.RFC3339:
		l.iso = 2
	}
	return l
}

// isLiteral reports whether time.Parse reads src[i] as a literal byte: one
// of the separators, and neither the start of a fractional second (.000,
// ,999) nor of a zone (-07).
func isLiteral(src string, i int) bool {
	switch c := src[i]; c {
	case '/', ':', ' ', 'T':
		return true
	case '-':
		return !strings.HasPrefix(src[i:], "-07")
	case '.', ',':
		if i+1 < len(src) && (src[i+1] == '0' || src[i+1] == '9') {
			j := i + 1
			for j < len(src) && src[j] == src[i+1] {
				j++
			}
			return j < len(src) && isDigit(src[j])
		}
		return true
	}
	return false
}

// valid reports whether b is a value of the layout.
func (l *layout) valid(b []byte) bool {
	if l.parts != nil && l.fast(b) {
		return true
	}
	_, err := time.Parse(l.src, string(b))
	return err == nil
}

// fast reports whether b certainly matches the layout.
func (l *layout) fast(b []byte) bool {
	switch l.iso {
	case 1:
		return len(b) == 10 && isoDate(b)
	case 2:
		return rfc3339(b)
	}
	i, year, month, day := 0, 0, 0, 0
	for _, p := range l.parts {
		switch p.tok {
		case tokLit:
			if i >= len(b) || b[i] != p.lit {
				return false
			}
			i++
			continue
		case tokZoneZ, tokZone:
			if p.tok == tokZoneZ && i < len(b) && b[i] == 'Z' {
				i++
				continue
			}
			if i+6 > len(b) || (b[i] != '+' && b[i] != '-') || b[i+3] != ':' {
				return false
			}
			if hh, ok := num2(b[i+1:]); !ok || hh > 23 {
				return false
			}
			if mm, ok := num2(b[i+4:]); !ok || mm > 59 {
				return false
			}
			i += 6
			continue
		case tokYear:
			if i+4 > len(b) || !isDigit(b[i]) || !isDigit(b[i+1]) || !isDigit(b[i+2]) || !isDigit(b[i+3]) {
				return false
			}
			year = int(b[i]-'0')*1000 + int(b[i+1]-'0')*100 + int(b[i+2]-'0')*10 + int(b[i+3]-'0')
			i += 4
			continue
		}
		v, ok := num2(b[min(i, len(b)):])
		if !ok {
			return false
		}
		i += 2
		switch p.tok {
		case tokMonth:
			month = v
			ok = v >= 1 && v <= 12
		case tokDay:
			day = v
		case tokHour:
			ok = v <= 23
		case tokMinute:
			ok = v <= 59
		case tokSecond:
			ok = v <= 59
			// time.Parse takes a fractional second after seconds even
			// when the layout has none.
			if i+1 < len(b) && (b[i] == '.' || b[i] == ',') && isDigit(b[i+1]) {
				for i++; i < len(b) && isDigit(b[i]); i++ {
				}
			}
		}
		if !ok {
			return false
		}
	}
	return i == len(b) && day >= 1 && day <= daysIn(month, year)
}

// isoDate reports whether b starts with a valid YYYY-MM-DD date.
func isoDate(b []byte) bool {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return false
	}
	// Digits minus '0' are 0-9; anything else wraps to more than 9.
	y0, y1, y2, y3 := b[0]-'0', b[1]-'0', b[2]-'0', b[3]-'0'
	m0, m1, d0, d1 := b[5]-'0', b[6]-'0', b[8]-'0', b[9]-'0'
	if y0 > 9 || y1 > 9 || y2 > 9 || y3 > 9 || m0 > 9 || m1 > 9 || d0 > 9 || d1 > 9 {
		return false
	}
	year := int(y0)*1000 + int(y1)*100 + int(y2)*10 + int(y3)
	month, day := int(m0)*10+int(m1), int(d0)*10+int(d1)
	return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year)
}

// rfc3339 reports whether b is YYYY-MM-DDThh:mm:ss, an optional fraction
// and Z or ±hh:mm.
func rfc3339(b []byte) bool {
	if len(b) < 20 || !isoDate(b) || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	hh, ok1 := num2(b[11:])
	mm, ok2 := num2(b[14:])
	ss, ok3 := num2(b[17:])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return false
	}
	b = b[19:]
	if len(b) >= 2 && b[0] == '.' && isDigit(b[1]) {
		b = b[2:]
		for len(b) > 0 && isDigit(b[0]) {
			b = b[1:]
		}
	}
	if len(b) == 1 {
		return b[0] == 'Z'
	}
	if len(b) != 6 || (b[0] != '+' && b[0] != '-') || b[3] != ':' {
		return false
	}
	zh, ok1 := num2(b[1:])
	zm, ok2 := num2(b[4:])
	return ok1 && ok2 && zh <= 23 && zm <= 59
}

// num2 reads two decimal digits.
func num2(b []byte) (int, bool) {
	if len(b) < 2 || !isDigit(b[0]) || !isDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// daysIn is the number of days of month (1-12) in year, proleptic Gregorian
// as package time counts.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
