package csvcheck

import (
	"regexp"
	"regexp/syntax"
)

// pattern is a regex column's pattern, anchored at both ends. regexp is the
// rule; patterns that are a sequence of ASCII character sets, each repeated
// ([A-Z]{3}-\d{4}, [a-z0-9_]+), also get a greedy matcher without
// backtracking, several times faster than regexp on short values. The
// greedy matcher only ever accepts (a greedy assignment that reaches the
// end of the value is a match, so it is sound); whatever it does not accept
// goes to regexp.
type pattern struct {
	re    *regexp.Regexp
	items []reItem // nil: no fast path
}

type reItem struct {
	set      *[256]bool
	min, max int // max -1: unbounded
}

func compilePattern(p string) (*pattern, error) {
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, err
	}
	pt := &pattern{re: re}
	if tree, err := syntax.Parse(p, syntax.Perl); err == nil {
		var items []reItem
		if flatten(tree, &items) && greedyComplete(items) {
			pt.items = items
		}
	}
	return pt, nil
}

func (p *pattern) match(b []byte) bool {
	return (p.items != nil && p.greedy(b)) || p.re.Match(b)
}

func (p *pattern) greedy(b []byte) bool {
	i := 0
	for _, it := range p.items {
		n := 0
		for i < len(b) && (it.max < 0 || n < it.max) && it.set[b[i]] {
			i++
			n++
		}
		if n < it.min {
			return false
		}
	}
	return i == len(b)
}

// flatten appends the items of re to items, reporting false when re is not
// a sequence of repeated ASCII sets.
func flatten(re *syntax.Regexp, items *[]reItem) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpCapture:
		return flatten(re.Sub[0], items)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !flatten(sub, items) {
				return false
			}
		}
		return true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			set := asciiSet(&syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{r}, Flags: re.Flags})
			if set == nil {
				return false
			}
			*items = append(*items, reItem{set: set, min: 1, max: 1})
		}
		return true
	case syntax.OpCharClass:
		set := asciiSet(re)
		if set == nil {
			return false
		}
		*items = append(*items, reItem{set: set, min: 1, max: 1})
		return true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		set := asciiSet(re.Sub[0])
		if set == nil {
			return false
		}
		it := reItem{set: set}
		switch re.Op {
		case syntax.OpStar:
			it.min, it.max = 0, -1
		case syntax.OpPlus:
			it.min, it.max = 1, -1
		case syntax.OpQuest:
			it.min, it.max = 0, 1
		default:
			it.min, it.max = re.Min, re.Max
		}
		*items = append(*items, it)
		return true
	}
	return false
}

// asciiSet returns the bytes one character of re matches, when re is a
// single character (a literal or a class) of ASCII characters only; nil
// otherwise. A case-folded literal gets its ASCII cases only: the greedy
// matcher may then miss a match (regexp decides), never invent one.
func asciiSet(re *syntax.Regexp) *[256]bool {
	var set [256]bool
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Rune[0] >= 0x80 {
			return nil
		}
		c := byte(re.Rune[0])
		set[c] = true
		if re.Flags&syntax.FoldCase != 0 && (c|0x20 >= 'a' && c|0x20 <= 'z') {
			set[c|0x20], set[c&^0x20] = true, true
		}
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi >= 0x80 {
				return nil
			}
			for c := lo; c <= hi; c++ {
				set[c] = true
			}
		}
	default:
		return nil
	}
	return &set
}

// greedyComplete reports whether greedy matching finds every match of
// items: each item of variable length shares no byte with the items that
// may follow it, up to the next mandatory one. Otherwise greedy would often
// miss and send values to regexp twice.
func greedyComplete(items []reItem) bool {
	for i, it := range items {
		if it.min == it.max {
			continue
		}
		for _, next := range items[i+1:] {
			for c := range 256 {
				if it.set[c] && next.set[c] {
					return false
				}
			}
			if next.min > 0 {
				break
			}
		}
	}
	return true
}
