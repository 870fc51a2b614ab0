package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// random is a random token stretch (fixed, so that tests are repeatable)
// used to embed patterns in otherwise random tokens.
const random = "Xk9mQ2vL8nR4tW7Y"

func TestCheckAPIToken(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		reason string // "" means valid
	}{
		{name: "random base62 32", token: "q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A"},
		{name: "random base64", token: "u5Jk8+Vd2Qw/Xz7LmN1pRb4Tc9YhGf3EaS6oKiW0Uq8="},
		{name: "random hex", token: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{name: "random base64url 80", token: "q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A-u5Jk8_Vd2Qw0Xz7LmN1pRb4Tc9YhGf3EaS6oKiW0Uq8aB5c"},
		{name: "a short run is chance", token: random + "aaaa" + "Bc3dFg6hJ1kP"},

		{name: "too short", token: "q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1", reason: "must be at least 32 characters long (got 31)"},
		{name: "too long", token: strings.Repeat("q7GfKc2LxP", 8) + "x", reason: "must be at most 80 characters long (got 81)"},
		{name: "space", token: "q7GfKc2LxP9vRt4Z bN8sWm3JhY6dTe1A", reason: "must not contain spaces"},
		{name: "tab", token: "q7GfKc2LxP9vRt4Z\tbN8sWm3JhY6dTe1A", reason: "printable ASCII"},
		{name: "newline", token: "q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A\n", reason: "printable ASCII"},
		{name: "non-ASCII", token: "q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1é", reason: "printable ASCII"},
		{name: "NUL", token: "q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A\x00", reason: "printable ASCII"},

		{name: "one character", token: strings.Repeat("a", 40), reason: "uses only 1 distinct characters"},
		{name: "few distinct", token: "abcabcabcabcabcabcabcabcabcabcabcabc12", reason: "uses only 5 distinct characters"},
		{name: "repeated word", token: "passwordpasswordpasswordpassword", reason: "uses only 7 distinct characters"},
		{name: "long run", token: "x7Kq9mZ2Wb" + strings.Repeat("a", 30), reason: "too predictable: it has a run of 30 identical characters"},
		{name: "run in random", token: random + "aaaaaaa" + "Bc3dFg6hJ1kP", reason: "not random: it has a run of 7 identical characters"},
		{name: "alphabet", token: "abcdefghijklmnopqrstuvwxyz0123456789", reason: "too predictable: it has sequential runs"},
		{name: "sequence in random", token: random + "1234567" + "Bc3dFg6hJ1kP", reason: "not random: it has a sequential run of 7 characters"},
		{name: "backwards sequence in random", token: random + "zyxwvuts" + "Bc3dFg6hJ1kP", reason: "not random: it has a sequential run of 8 characters"},
		{name: "keyboard walk", token: "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", reason: "too predictable: it has keyboard patterns"},
		{name: "keyboard walk in random", token: random + "xcvbnm,./" + "Bc3dFg6hJ1kP", reason: "not random: it has a keyboard walk of 9 characters"},
		{name: "keyboard rows", token: "qwertyuiopasdfghjklzxcvbnm1234567890", reason: "human-readable"},
		{name: "repeated chunk", token: "Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3", reason: "too predictable: it repeats the same group of characters"},
		{name: "repeated chunk in random", token: random + "Xk9mQ2vL8n" + "Bc3dFg6hJ1kP", reason: "not random: it repeats a group of 10 characters"},
		{name: "passphrase", token: "correcthorsebatterystaplecorrecthorse", reason: "human-readable: 100% of it is dictionary words"},
		{name: "camel case phrase", token: "MyCompanyAdminToken2024ForProductionUse", reason: "human-readable"},
		{name: "sentence", token: "thequickbrownfoxjumpsoverthelazydogagain", reason: "human-readable"},
		{name: "words with separators", token: "sluice-admin-token-for-ci-pipeline-2024", reason: "human-readable"},
		{name: "snake case", token: "my_super_secret_api_token_for_sluice_prod", reason: "human-readable"},
		{name: "l33t phrase", token: "C0rr3ctH0rs3B4tt3rySt4pl3IsMyP4ssw0rd!", reason: "too predictable: it is made of dictionary words"},
		{name: "common password in random", token: random + "password" + "Bc3dFg6hJ1kP", reason: "not random: it contains a common password"},
		{name: "word in random", token: random + "umbrellas" + "Bc3dFg6hJ1kP", reason: "not random: it contains a 9-letter dictionary word"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAPIToken(tc.token)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			ve := requireValidation(t, err, "token", tc.reason)
			requireNoEcho(t, ve.Reason, tc.token)
		})
	}
}

// requireNoEcho asserts that reason contains no 12-character piece of secret.
func requireNoEcho(t *testing.T, reason, secret string) {
	t.Helper()
	for i := 0; i+12 <= len(secret); i++ {
		require.NotContains(t, reason, secret[i:i+12])
	}
}

// TestCheckAPITokenRandom checks that random tokens in the formats admins use
// always pass.
func TestCheckAPITokenRandom(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	randomBytes := func(size int) []byte {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		return b
	}
	formats := []struct {
		name string
		gen  func(i int) string
	}{
		{"openssl rand -base64 32", func(int) string { return base64.StdEncoding.EncodeToString(randomBytes(32)) }},
		{"openssl rand -hex 32", func(int) string { return hex.EncodeToString(randomBytes(32)) }},
		{"upper-case hex 32", func(int) string { return strings.ToUpper(hex.EncodeToString(randomBytes(32))) }},
		{"base64url 48", func(int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(48)) }},
		{"base62 32 to 80", func(i int) string {
			s, err := randomString(base62, 32+i%49)
			require.NoError(t, err)
			return s
		}},
		{"GenerateAPIToken", func(int) string {
			s, err := GenerateAPIToken()
			require.NoError(t, err)
			return s
		}},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			for i := range n {
				token := f.gen(i)
				require.NoError(t, CheckAPIToken(token), "token %q", token)
			}
		})
	}
	t.Run("openssl", func(t *testing.T) {
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Skip("openssl not installed")
		}
		t.Parallel()
		for _, args := range [][]string{{"rand", "-base64", "32"}, {"rand", "-hex", "32"}} {
			for range 25 {
				out, err := exec.CommandContext(t.Context(), "openssl", args...).Output()
				require.NoError(t, err)
				token := strings.TrimSpace(string(out))
				require.NoError(t, CheckAPIToken(token), "token %q", token)
			}
		}
	})
}

func TestGenerateAPIToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 200 {
		token, err := GenerateAPIToken()
		require.NoError(t, err)
		require.Len(t, token, 40)
		require.Regexp(t, `^[A-Za-z0-9]{40}$`, token)
		require.False(t, seen[token])
		seen[token] = true
	}
}

func TestRandomStringUniform(t *testing.T) {
	const per = 2000
	s, err := randomString(base62, per*len(base62))
	require.NoError(t, err)
	counts := make(map[rune]int)
	for _, c := range s {
		counts[c]++
	}
	require.Len(t, counts, len(base62))
	for c, n := range counts {
		// ±20% is > 8 standard deviations: a biased draw (e.g. b % 62 on
		// every byte favours the first 8 characters by 25%) fails.
		require.InDelta(t, per, n, per/5, "character %q", c)
	}
}

func TestHashToken(t *testing.T) {
	sum := sha256.Sum256([]byte("q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A"))
	require.Equal(t, hex.EncodeToString(sum[:]), HashToken("q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A"))
	require.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", HashToken("abc"))
	require.NotEqual(t, HashToken("a"), HashToken("b"))
}

func TestTokenPrefix(t *testing.T) {
	require.Equal(t, "q7GfKc2L", TokenPrefix("q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A"))
	require.Equal(t, "short", TokenPrefix("short"))
	require.Equal(t, "", TokenPrefix(""))
}

func FuzzCheckAPIToken(f *testing.F) {
	for _, seed := range []string{
		"q7GfKc2LxP9vRt4ZbN8sWm3JhY6dTe1A",
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"correcthorsebatterystaplecorrecthorse",
		"C0rr3ctH0rs3B4tt3rySt4pl3IsMyP4ssw0rd!",
		"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		err := CheckAPIToken(token)
		if err == nil {
			require.GreaterOrEqual(t, len(token), 32)
			return
		}
		var ve *ValidationError
		require.True(t, errors.As(err, &ve))
		require.Equal(t, "token", ve.Field)
		requireNoEcho(t, ve.Reason, token)
	})
}

// BenchmarkCheckAPIToken measures the check of a random 64-digit hex token,
// the slowest common format.
func BenchmarkCheckAPIToken(b *testing.B) {
	const token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for b.Loop() {
		if err := CheckAPIToken(token); err != nil {
			b.Fatal(err)
		}
	}
}
