package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/ccojocar/zxcvbn-go/entropy"
	"github.com/ccojocar/zxcvbn-go/frequency"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/matching"
	"github.com/ccojocar/zxcvbn-go/scoring"
)

// Limits of CheckAPIToken.
const (
	apiTokenMinLen      = 32
	apiTokenMaxLen      = 80
	apiTokenMinDistinct = 10
	// apiTokenMinBits is the least estimated entropy a token may have. The
	// estimate (zxcvbn's patterns plus repeated chunks) is pessimistic:
	// in 20,000 samples each, random base62 or base64 tokens of 32+
	// characters scored at least 135 bits and 64 hex digits 240, while
	// human-made tokens mostly score far below 100.
	apiTokenMinBits = 100
	// apiTokenMaxWordShare is the largest share of a token that may be
	// dictionary words, names or common passwords of 4+ letters. Random
	// tokens stay near or below 0.4; phrases reach 0.6 and more.
	apiTokenMaxWordShare = 0.5
	// apiTokenMaxSavings is the most bits one pattern (a run, a sequence, a
	// keyboard walk, a word, a repeated chunk) may save over random
	// characters of the token's alphabet. Random tokens have a pattern
	// saving S bits with a probability of about 2^(12-S): the largest seen
	// in 20,000 samples of each format saved 26 bits. A run of 7 identical
	// characters in a base62 token saves 34.
	apiTokenMaxSavings = 34
	// apiTokenGenLen is the length of GenerateAPIToken's tokens (~238 bits).
	apiTokenGenLen = 40
)

const tokenAdvice = "use a random token, e.g. from `sluice token create` or `openssl rand -base64 32`"

// CheckAPIToken reports whether token is acceptable as an admin API token: 32
// to 80 printable ASCII characters without spaces that look random. It
// refuses tokens
//   - with fewer than 10 distinct characters;
//   - whose estimated entropy is under 100 bits, because of runs of one
//     character, sequences (abcd, 4321), keyboard walks (qwerty), repeated
//     chunks, words (also in l33t) or dates;
//   - of which half or more is dictionary words, names or common passwords
//     (and the punctuation between them);
//   - with a single pattern too long to be chance for the token's alphabet,
//     such as a run of 7 identical characters or an 8-letter word in base62
//     (a run of 4 is chance: 1 in 6,000 random base62 tokens has one, and
//     1 in 70 hex tokens).
//
// Random tokens such as `openssl rand -base64 32`, `openssl rand -hex 32` or
// 32 to 80 random base62 characters pass. It returns a *ValidationError with
// Field "token" whose Reason says which rule failed and never contains the
// token. It takes about a millisecond.
func CheckAPIToken(token string) error {
	if len(token) < apiTokenMinLen {
		return invalid("token", "must be at least %d characters long (got %d); %s", apiTokenMinLen, len(token), tokenAdvice)
	}
	if len(token) > apiTokenMaxLen {
		return invalid("token", "must be at most %d characters long (got %d)", apiTokenMaxLen, len(token))
	}
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == ' ':
			return invalid("token", "must not contain spaces")
		case c < 0x21 || c > 0x7e:
			return invalid("token", "must contain only printable ASCII characters (letters, digits and punctuation)")
		}
	}
	if reason := tokenWeakness(token); reason != "" {
		return invalid("token", "%s", reason)
	}
	return nil
}

// base62 is the alphabet of generated tokens.
const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GenerateAPIToken returns a new admin API token: 40 uniformly random base62
// characters (about 238 bits) that pass CheckAPIToken.
func GenerateAPIToken() (string, error) {
	for range 100 {
		token, err := randomString(base62, apiTokenGenLen)
		if err != nil {
			return "", fmt.Errorf("generate api token: %w", err)
		}
		if CheckAPIToken(token) == nil {
			return token, nil
		}
	}
	return "", errors.New("generate api token: no random token passed the checks") // not reached in practice
}

// randomString returns n characters drawn uniformly from alphabet (at most
// 256 characters), rejecting the bytes that would bias the draw.
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// HashToken returns the hex SHA-256 of token, the form in which API tokens are
// stored and looked up. A fast hash is right for high-entropy tokens (OWASP):
// there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenPrefix returns the first 8 characters of token (all of it if shorter),
// shown as the token's fingerprint so admins can tell tokens apart.
func TokenPrefix(token string) string {
	if len(token) > 8 {
		return token[:8]
	}
	return token
}

// tokenWeakness returns why token (32–80 printable ASCII characters) is not
// random enough, or "" if it is.
func tokenWeakness(token string) string {
	distinct := make(map[byte]bool)
	for i := 0; i < len(token); i++ {
		distinct[token[i]] = true
	}
	if len(distinct) < apiTokenMinDistinct {
		return fmt.Sprintf("uses only %d distinct characters (a random token uses many more, at least %d); %s",
			len(distinct), apiTokenMinDistinct, tokenAdvice)
	}
	s := measureToken(token)
	kind := dominantWeakness(s.seq)
	weak := s.bits < apiTokenMinBits
	switch {
	case weak && !wordKinds[kind]:
		return fmt.Sprintf("is too predictable: %s (estimated strength %.0f bits, at least %d needed); %s",
			describeWeakness(kind, token), s.bits, apiTokenMinBits, tokenAdvice)
	case s.wordShare >= apiTokenMaxWordShare:
		return fmt.Sprintf("is human-readable: %.0f%% of it is dictionary words, names or common passwords; %s",
			100*s.wordShare, tokenAdvice)
	case weak:
		return fmt.Sprintf("is too predictable: %s (estimated strength %.0f bits, at least %d needed); %s",
			describeWeakness(kind, token), s.bits, apiTokenMinBits, tokenAdvice)
	case s.worst.savings >= apiTokenMaxSavings:
		return fmt.Sprintf("is not random: %s, which a random token practically never has; %s",
			describePattern(s.worst.Match), tokenAdvice)
	}
	return ""
}

// tokenStrength is what measureToken finds.
type tokenStrength struct {
	bits      float64       // estimated entropy: the cheapest reading of the token
	seq       []match.Match // that reading, patterns and brute-force stretches
	wordShare float64       // share of characters in words or punctuation next to them
	worst     scoredMatch   // the pattern that is least likely in a random token
}

// scoredMatch is a pattern with the bits it saves over random characters.
type scoredMatch struct {
	match.Match
	savings float64
}

// measureToken estimates the entropy of token as zxcvbn does (the cheapest
// reading as dictionary words, l33t words, keyboard walks, runs, sequences,
// dates and brute-forced stretches), plus repeated chunks, which zxcvbn-go
// does not see; it measures how much of the token reads as words, and finds
// the pattern that saves the most bits over random characters (by the token's
// own alphabet: a run of 6 is likely in a hex token, not in base62).
func measureToken(token string) tokenStrength {
	words := wordMatches(token, token, 0)
	var matches []match.Match
	for _, m := range matching.Omnimatch(token, nil, func(m match.Matcher) bool {
		// Words are matched by wordMatches: zxcvbn's dictionary matcher
		// allocates every substring and its l33t permutations take ~50 ms
		// on a hex token.
		return !zxcvbnPatternMatchers[m.ID]
	}) {
		// Numeric keypad walks are left out: any run of digits is one, so
		// they make random hex look patterned.
		if m.Pattern != "spatial" || m.DictionaryName == "qwerty" || m.DictionaryName == "dvorak" {
			matches = append(matches, m)
		}
	}
	matches = append(matches, words...)
	matches = append(matches, copyMatches(token)...)

	s := tokenStrength{wordShare: wordShare(token, words)}
	perChar := math.Log2(alphabetSize(token))
	for _, m := range matches {
		if m.Pattern == "date" || m.DictionaryName == "date_match" {
			continue // any 6 digits in a row read as a date
		}
		if sv := float64(m.J-m.I+1)*perChar - m.Entropy; sv > s.worst.savings {
			s.worst = scoredMatch{Match: m, savings: sv}
		}
	}
	// l33t readings count towards the estimate only: random tokens are full
	// of digits that read as letters.
	for _, variant := range deleet(token) {
		matches = append(matches, wordMatches(token, variant, 1)...)
	}
	est := scoring.MinimumEntropyMatchSequence(token, matches)
	s.bits, s.seq = est.Entropy, est.MatchSequence
	return s
}

// alphabetSize estimates the alphabet a token was drawn from: hex, base64
// (standard or URL-safe) or the classes of characters it uses.
func alphabetSize(token string) float64 {
	var lower, upper, digit, notHexLower, notHexUpper, b64sym, other bool
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z':
			lower, notHexUpper = true, true
			notHexLower = notHexLower || c > 'f'
		case c >= 'A' && c <= 'Z':
			upper, notHexLower = true, true
			notHexUpper = notHexUpper || c > 'F'
		case strings.IndexByte("+/=-_", c) >= 0:
			b64sym = true
		default:
			other = true
		}
	}
	if !b64sym && !other && (lower || upper) && (!notHexLower || !notHexUpper) {
		return 16
	}
	n := 0.0
	for _, class := range []struct {
		used bool
		size float64
	}{{lower, 26}, {upper, 26}, {digit, 10}, {b64sym, 3}, {other, 32}} {
		if class.used {
			n += class.size
		}
	}
	return n
}

// zxcvbnPatternMatchers are the zxcvbn matchers measureToken uses.
var zxcvbnPatternMatchers = map[string]bool{"SPATIAL": true, "REPEAT": true, "SEQ": true, "DATESEP": true, "DATEWITHOUT": true}

// wordKinds are the kinds of weakness that mean words (the word lists).
var wordKinds = map[string]bool{"English": true, "Passwords": true, "MaleNames": true, "FemaleNames": true, "Surname": true}

// wordList is zxcvbn's word lists merged: each lower-case word with its best
// rank and the list that gives it.
type wordList struct {
	words  map[string]wordRank
	maxLen int
}

type wordRank struct {
	rank int
	list string
}

var loadWordList = sync.OnceValue(func() wordList {
	wl := wordList{words: make(map[string]wordRank)}
	for name, l := range frequency.Lists {
		for i, w := range l.List {
			w = strings.ToLower(w)
			if len(w) < 2 {
				continue
			}
			if old, ok := wl.words[w]; !ok || i+1 < old.rank {
				wl.words[w] = wordRank{rank: i + 1, list: name}
			}
			wl.maxLen = max(wl.maxLen, len(w))
		}
	}
	return wl
})

// minWordLen is the shortest word that counts anywhere in a token; shorter
// words count only when they stand alone between separators, since they turn
// up by chance in random tokens.
const minWordLen = 4

// wordMatches returns the words in text (token, or a de-l33ted reading of it
// of the same length) as matches on token: words of 4+ letters anywhere, and
// words of 2–3 letters that stand alone (between non-letters or the ends). A
// match in a de-l33ted reading must cover a substituted character and costs
// leetBits more per substitution.
func wordMatches(token, text string, leetBits float64) []match.Match {
	wl := loadWordList()
	lower := strings.ToLower(text)
	var out []match.Match
	for i := 0; i < len(lower); i++ {
		for j := i + 2; j <= len(lower) && j-i <= wl.maxLen; j++ {
			w, ok := wl.words[lower[i:j]]
			if !ok || (j-i < minWordLen && !(isBoundary(text, i-1) && isBoundary(text, j))) {
				continue
			}
			subs := 0
			for k := i; k < j; k++ {
				if token[k] != text[k] {
					subs++
				}
			}
			if leetBits > 0 && subs == 0 {
				continue // found by the plain pass
			}
			m := match.Match{Pattern: "dictionary", DictionaryName: w.list, I: i, J: j - 1, Token: text[i:j]}
			m.Entropy = entropy.DictionaryEntropy(m, float64(w.rank)) + leetBits*float64(subs)
			m.Token = token[i:j]
			out = append(out, m)
		}
	}
	return out
}

// isBoundary reports whether text[i] is outside text or punctuation.
func isBoundary(text string, i int) bool {
	return i < 0 || i >= len(text) || isPunct(text[i])
}

// wordShare returns the share of token covered by words and by the
// punctuation right next to them ("deploy-bot:prod" is all readable).
func wordShare(token string, words []match.Match) float64 {
	covered := make([]bool, len(token))
	for _, m := range words {
		for k := m.I; k <= m.J; k++ {
			covered[k] = true
		}
		for _, k := range []int{m.I - 1, m.J + 1} {
			if k >= 0 && k < len(token) && isPunct(token[k]) {
				covered[k] = true
			}
		}
	}
	n := 0
	for _, c := range covered {
		if c {
			n++
		}
	}
	return float64(n) / float64(len(token))
}

func isPunct(c byte) bool {
	return !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

// leet maps common l33t substitutions back to letters; the second table
// holds the alternative readings of the ambiguous characters.
var leet = [2]map[byte]byte{
	{'4': 'a', '@': 'a', '8': 'b', '(': 'c', '3': 'e', '6': 'g', '9': 'g', '1': 'i', '!': 'i', '|': 'i',
		'0': 'o', '$': 's', '5': 's', '7': 't', '+': 't', '%': 'x', '2': 'z'},
	{'1': 'l', '|': 'l', '7': 'l'},
}

// deleet returns the readings of token with l33t characters replaced by
// letters (none if it has no such character).
func deleet(token string) []string {
	var out []string
	for v := range leet {
		b := []byte(token)
		changed := false
		for i, c := range b {
			r, ok := leet[v][c]
			if !ok && v > 0 {
				r, ok = leet[0][c]
			}
			if ok {
				b[i], changed = r, true
			}
		}
		if changed {
			out = append(out, string(b))
		}
	}
	return out
}

// copyMatches returns, for each position, the longest repeat (4+ characters)
// of earlier text starting there, and its shorter prefixes: zxcvbn-go only
// knows runs of one character, not repeated chunks such as
// "Summer2024!Summer2024!". A copy costs the bits that say where it starts
// and how long it is.
func copyMatches(token string) []match.Match {
	var out []match.Match
	for i := 1; i < len(token); i++ {
		longest := 0
		for s := 0; s < i; s++ {
			n := 0
			for i+n < len(token) && token[s+n] == token[i+n] {
				n++
			}
			longest = max(longest, n)
		}
		for n := minWordLen; n <= longest; n++ {
			out = append(out, match.Match{
				Pattern: "copy", I: i, J: i + n - 1, Token: token[i : i+n],
				Entropy: math.Log2(float64(i)) + math.Log2(float64(n)),
			})
		}
	}
	return out
}

// dominantWeakness returns the kind of pattern (a zxcvbn pattern, "copy", or
// the word list for words) that covers most characters of the reading seq,
// or "" if it is all brute force.
func dominantWeakness(seq []match.Match) string {
	covered := make(map[string]int)
	for _, m := range seq {
		kind := m.Pattern
		if kind == "dictionary" {
			kind = m.DictionaryName
		}
		if kind != "bruteforce" {
			covered[kind] += m.J - m.I + 1
		}
	}
	kind, most := "", 0
	for k, n := range covered {
		if n > most || n == most && k < kind {
			kind, most = k, n
		}
	}
	return kind
}

// describeWeakness says in words what a kind of pattern is.
func describeWeakness(kind, token string) string {
	switch kind {
	case "repeat":
		return fmt.Sprintf("it has a run of %d identical characters", longestRun(token))
	case "copy":
		return "it repeats the same group of characters"
	case "sequence":
		return "it has sequential runs of characters (like abcd or 4321)"
	case "spatial":
		return "it has keyboard patterns (like qwerty or 1qaz)"
	case "date":
		return "it has dates or years in it"
	case "Passwords":
		return "it is made of common passwords"
	case "English":
		return "it is made of dictionary words"
	case "MaleNames", "FemaleNames", "Surname":
		return "it is made of names"
	default:
		return "it has too little variety for its length"
	}
}

// longestRun returns the length of the longest run of one character in s.
func longestRun(s string) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if i > 0 && s[i] == s[i-1] {
			n++
		} else {
			n = 1
		}
		longest = max(longest, n)
	}
	return longest
}

// describePattern says in words what one pattern in a token is, without
// quoting it.
func describePattern(m match.Match) string {
	n := m.J - m.I + 1
	switch m.Pattern {
	case "repeat":
		return fmt.Sprintf("it has a run of %d identical characters", n)
	case "copy":
		return fmt.Sprintf("it repeats a group of %d characters", n)
	case "sequence":
		return fmt.Sprintf("it has a sequential run of %d characters (like abcd or 4321)", n)
	case "spatial":
		return fmt.Sprintf("it has a keyboard walk of %d characters (like qwerty or 1qaz)", n)
	case "date":
		return "it has a date in it"
	}
	if m.DictionaryName == "date_match" {
		return "it has a date in it"
	}
	switch m.DictionaryName {
	case "Passwords":
		return fmt.Sprintf("it contains a common password (%d characters)", n)
	case "English":
		return fmt.Sprintf("it contains a %d-letter dictionary word", n)
	default:
		return fmt.Sprintf("it contains a %d-letter name", n)
	}
}
