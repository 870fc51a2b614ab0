package credentials

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

func TestArgon2ParamsValidate(t *testing.T) {
	tests := []struct {
		name   string
		p      Argon2Params
		field  string // "" means valid
		reason string // substring of the reason
	}{
		{name: "default", p: DefaultArgon2},
		{name: "owasp 46 MiB t=1", p: Argon2Params{Memory: 47104, Time: 1, Threads: 1}},
		{name: "owasp 12 MiB t=3", p: Argon2Params{Memory: 12288, Time: 3, Threads: 1}},
		{name: "owasp 9 MiB t=4", p: Argon2Params{Memory: 9216, Time: 4, Threads: 1}},
		{name: "owasp 7 MiB t=5", p: Argon2Params{Memory: 7168, Time: 5, Threads: 1}},
		{name: "stronger", p: Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 4}},
		{name: "upper bounds", p: Argon2Params{Memory: 1 << 20, Time: 20, Threads: 64}},
		{name: "19 MiB t=1", p: Argon2Params{Memory: 19456, Time: 1, Threads: 1}, field: "time", reason: "below the OWASP minimum"},
		{name: "just under 19 MiB t=2", p: Argon2Params{Memory: 19455, Time: 2, Threads: 1}, field: "time", reason: "below the OWASP minimum"},
		{name: "tiny memory", p: Argon2Params{Memory: 4096, Time: 10, Threads: 1}, field: "memory_kib", reason: "memory_kib=4096 with time=10 is below"},
		{name: "zero threads", p: Argon2Params{Memory: 19456, Time: 2}, field: "threads", reason: "must be at least 1"},
		{name: "too many threads", p: Argon2Params{Memory: 19456, Time: 2, Threads: 65}, field: "threads", reason: "at most 64 (got 65)"},
		{name: "zero time", p: Argon2Params{Memory: 19456, Threads: 1}, field: "time", reason: "must be at least 1"},
		{name: "too much time", p: Argon2Params{Memory: 19456, Time: 21, Threads: 1}, field: "time", reason: "at most 20 (got 21)"},
		{name: "too much memory", p: Argon2Params{Memory: 1<<20 + 1, Time: 2, Threads: 1}, field: "memory_kib", reason: "at most 1048576"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			requireValidation(t, err, tc.field, tc.reason)
		})
	}
}

// requireValidation asserts that err is a *ValidationError for field whose
// reason contains reason.
func requireValidation(t *testing.T, err error, field, reason string) *ValidationError {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, field, ve.Field)
	require.Contains(t, ve.Reason, reason)
	return ve
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, password := range []string{"correct horse battery staple", "", "пароль-密码-🔑", strings.Repeat("x", 1024)} {
		t.Run(fmt.Sprintf("len %d", len(password)), func(t *testing.T) {
			encoded, err := HashPassword(DefaultArgon2, password)
			require.NoError(t, err)
			require.Regexp(t, phcRE, encoded)
			if password != "" {
				require.NotContains(t, encoded, password)
			}

			ok, err := VerifyPassword(encoded, password)
			require.NoError(t, err)
			require.True(t, ok)

			ok, err = VerifyPassword(encoded, password+"x")
			require.NoError(t, err)
			require.False(t, ok, "wrong password must not verify")

			again, err := HashPassword(DefaultArgon2, password)
			require.NoError(t, err)
			require.NotEqual(t, encoded, again, "each hash has its own salt")
		})
	}
}

func TestHashPasswordRefusesWeakParams(t *testing.T) {
	_, err := HashPassword(Argon2Params{Memory: 1024, Time: 1, Threads: 1}, "secret password")
	requireValidation(t, err, "memory_kib", "below the OWASP minimum")
	require.NotContains(t, err.Error(), "secret password")
}

// TestVerifyPasswordReferenceVector checks interoperability with the argon2
// reference implementation's test vector (argon2id, v=19, t=2, m=64 MiB, p=1,
// "password", "somesalt"), and that parameters come from the hash.
func TestVerifyPasswordReferenceVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := VerifyPassword(ref, "password")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = VerifyPassword(ref, "Password")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestVerifyPasswordOldParams(t *testing.T) {
	// A hash made under weaker, older parameters still verifies, and asks
	// to be rehashed.
	old := Argon2Params{Memory: 4096, Time: 1, Threads: 2}
	salt := []byte("0123456789abcdef")
	encoded := encodeHash(old, salt, argon2.IDKey([]byte("hunter2 hunter2"), salt, old.Time, old.Memory, old.Threads, 32))

	ok, err := VerifyPassword(encoded, "hunter2 hunter2")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, NeedsRehash(encoded, DefaultArgon2))
	require.False(t, NeedsRehash(encoded, old))
}

func TestVerifyPasswordMalformed(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	valid := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name    string
		encoded string
		detail  string
	}{
		{"empty", "", "want $argon2id$"},
		{"plain text", "hunter2", "want $argon2id$"},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "want $argon2id$"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, "not argon2id"},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, "unsupported argon2 version"},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, "want $argon2id$"},
		{"extra field", valid("m=19456,t=2,p=1") + "$x", "want $argon2id$"},
		{"leading text", "x" + valid("m=19456,t=2,p=1"), "want $argon2id$"},
		{"two params", valid("m=19456,t=2"), "want parameters"},
		{"params out of order", valid("t=2,m=19456,p=1"), "in that order"},
		{"zero memory", valid("m=0,t=2,p=1"), "parameter m must be"},
		{"huge memory", valid("m=4194304,t=2,p=1"), "parameter m must be"},
		{"memory overflow", valid("m=99999999999,t=2,p=1"), "parameter m must be"},
		{"zero time", valid("m=19456,t=0,p=1"), "parameter t must be"},
		{"huge time", valid("m=19456,t=21,p=1"), "parameter t must be"},
		{"zero threads", valid("m=19456,t=2,p=0"), "parameter p must be"},
		{"huge threads", valid("m=19456,t=2,p=65"), "parameter p must be"},
		{"negative", valid("m=-1,t=2,p=1"), "parameter m must be"},
		{"leading zero", valid("m=019456,t=2,p=1"), "parameter m must be"},
		{"memory below lanes", valid("m=8,t=2,p=2"), "below 8 KiB per lane"},
		{"bad salt", "$argon2id$v=19$m=19456,t=2,p=1$!!!!$" + key, "salt must be"},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, "salt must be"},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key, "salt must be"},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$c2hvcnQ", "key must be"},
		{"empty key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$", "key must be"},
		{"line break in key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:10] + "\r\n" + key[10:], "white space"},
		{"trailing newline", valid("m=19456,t=2,p=1") + "\n", "white space"},
	}
	const password = "my secret password"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.encoded, password)
			require.False(t, ok)
			require.ErrorIs(t, err, ErrMalformedHash)
			require.Contains(t, err.Error(), tc.detail)
			require.NotContains(t, err.Error(), password)
			require.True(t, NeedsRehash(tc.encoded, DefaultArgon2))
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	encoded, err := HashPassword(DefaultArgon2, "some password")
	require.NoError(t, err)
	tests := []struct {
		name string
		p    Argon2Params
		want bool
	}{
		{"same", DefaultArgon2, false},
		{"more memory", Argon2Params{Memory: 47104, Time: 2, Threads: 1}, true},
		{"more time", Argon2Params{Memory: 19456, Time: 3, Threads: 1}, true},
		{"more threads", Argon2Params{Memory: 19456, Time: 2, Threads: 2}, true},
		{"less", Argon2Params{Memory: 12288, Time: 3, Threads: 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, NeedsRehash(encoded, tc.p))
		})
	}
}

func TestDummyHash(t *testing.T) {
	t.Run("valid params", func(t *testing.T) {
		p := Argon2Params{Memory: 12288, Time: 3, Threads: 1}
		dummy := DummyHash(p)
		require.False(t, NeedsRehash(dummy, p), "dummy hash must use the given parameters")
		require.NotEqual(t, dummy, DummyHash(p))
		for _, guess := range []string{"", "password", "correct horse battery staple"} {
			ok, err := VerifyPassword(dummy, guess)
			require.NoError(t, err)
			require.False(t, ok)
		}
	})
	t.Run("invalid params fall back to the default", func(t *testing.T) {
		dummy := DummyHash(Argon2Params{})
		require.False(t, NeedsRehash(dummy, DefaultArgon2))
	})
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		reason   string // "" means valid
	}{
		{name: "12 ascii", password: "abcdefghijkl"},
		{name: "12 runes", password: "ééééééééééé🔑"},
		{name: "spaces allowed", password: "a long pass phrase"},
		{name: "1024 bytes", password: strings.Repeat("a", 1024)},
		{name: "empty", password: "", reason: "at least 12 characters long (got 0)"},
		{name: "11 ascii", password: "abcdefghijk", reason: "at least 12 characters long (got 11)"},
		{name: "11 runes in 22 bytes", password: "ééééééééééé", reason: "at least 12 characters long (got 11)"},
		{name: "1025 bytes", password: strings.Repeat("a", 1025), reason: "at most 1024 bytes long (got 1025)"},
		{name: "NUL", password: "abcdefghijkl\x00", reason: "control characters"},
		{name: "tab", password: "abcdef\tghijkl", reason: "control characters"},
		{name: "newline", password: "abcdefghijkl\n", reason: "control characters"},
		{name: "DEL", password: "abcdefghijkl\x7f", reason: "control characters"},
		{name: "C1 control", password: "abcdefghijkl\u0085", reason: "control characters"},
		{name: "invalid UTF-8", password: "abcdefghijkl\xff", reason: "valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.password)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			ve := requireValidation(t, err, "password", tc.reason)
			if tc.password != "" {
				require.NotContains(t, ve.Reason, tc.password)
			}
		})
	}
}

// BenchmarkVerifyPassword measures the cost of one login with DefaultArgon2.
func BenchmarkVerifyPassword(b *testing.B) {
	encoded, err := HashPassword(DefaultArgon2, "correct horse battery staple")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := VerifyPassword(encoded, "correct horse battery staple"); !ok || err != nil {
			b.Fatal("verify failed")
		}
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$AAAA")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, encoded string) {
		h, err := parseHash(encoded)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformedHash))
			return
		}
		// A hash that parses is canonical: it encodes back to itself.
		require.Equal(t, encoded, encodeHash(h.params, h.salt, h.key))
		require.NoError(t, Argon2Params{Memory: max(h.params.Memory, 47104), Time: h.params.Time, Threads: h.params.Threads}.Validate())
	})
}
