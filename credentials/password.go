package credentials

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters used for new password hashes.
// Hashes record their own parameters, so changing these later only affects
// new hashes (and NeedsRehash).
type Argon2Params struct {
	Memory  uint32 `yaml:"memory_kib" koanf:"memory_kib"` // KiB
	Time    uint32 `yaml:"time" koanf:"time"`             // passes over memory
	Threads uint8  `yaml:"threads" koanf:"threads"`       // lanes
}

// DefaultArgon2 is the OWASP minimum recommendation for argon2id: 19 MiB of
// memory, 2 passes, 1 lane.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Bounds on argon2id parameters. The upper bounds stop a typo (or a forged
// hash) from making every login allocate gigabytes or spin for seconds.
const (
	argon2MaxMemory  = 1 << 20 // KiB, 1 GiB
	argon2MaxTime    = 20
	argon2MaxThreads = 64

	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// owaspArgon2 lists OWASP's equivalent argon2id configurations (memory in KiB,
// time), all with parallelism 1: any one of them is an acceptable minimum.
var owaspArgon2 = []struct{ memory, time uint32 }{
	{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
}

// Validate reports whether p is at least as strong as one of OWASP's argon2id
// configurations (m=19 MiB with t=2, or m=46 MiB,t=1; m=12 MiB,t=3;
// m=9 MiB,t=4; m=7 MiB,t=5) and not absurdly expensive (at most 1 GiB,
// 20 passes, 64 threads). It returns a *ValidationError whose Field is the
// configuration key at fault.
func (p Argon2Params) Validate() error {
	switch {
	case p.Threads < 1:
		return invalid("threads", "must be at least 1")
	case p.Threads > argon2MaxThreads:
		return invalid("threads", "must be at most %d (got %d)", argon2MaxThreads, p.Threads)
	case p.Time < 1:
		return invalid("time", "must be at least 1")
	case p.Time > argon2MaxTime:
		return invalid("time", "must be at most %d (got %d)", argon2MaxTime, p.Time)
	case p.Memory > argon2MaxMemory:
		return invalid("memory_kib", "must be at most %d (1 GiB) (got %d)", argon2MaxMemory, p.Memory)
	}
	for _, c := range owaspArgon2 {
		if p.Memory >= c.memory && p.Time >= c.time {
			return nil
		}
	}
	field := "time" // enough memory for some trade-off: more passes would do
	if p.Memory < owaspArgon2[len(owaspArgon2)-1].memory {
		field = "memory_kib"
	}
	return invalid(field, "memory_kib=%d with time=%d is below the OWASP minimum for argon2id: "+
		"use at least memory_kib=19456 with time=2, or one of memory_kib=47104,time=1; "+
		"12288,3; 9216,4; 7168,5", p.Memory, p.Time)
}

// ErrMalformedHash reports that a stored password hash is not an argon2id PHC
// string this package can verify. Errors wrapping it say what is wrong but
// never contain the hash or a password.
var ErrMalformedHash = errors.New("malformed password hash")

// HashPassword hashes password with argon2id under p and a random 16-byte
// salt, and returns the PHC string
// $argon2id$v=19$m=<memory>,t=<time>,p=<threads>$<salt>$<key> (salt and
// 32-byte key in unpadded standard base64). It refuses parameters that fail
// Validate. It is safe for concurrent use; it takes as long and as much memory
// as p says.
func HashPassword(p Argon2Params, password string) (string, error) {
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("hash password: argon2 parameters: %w", err)
	}
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argon2KeyLen)
	return encodeHash(p, salt, key), nil
}

// VerifyPassword reports whether password matches the argon2id PHC string
// encoded, using the parameters recorded in encoded and a constant-time
// comparison. The error is non-nil (and wraps ErrMalformedHash) only when
// encoded cannot be parsed or has out-of-range parameters; it never contains
// the password. It is safe for concurrent use and costs one argon2id
// derivation.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// NeedsRehash reports whether the hash encoded was made with parameters other
// than p (or a salt or key length other than the current ones), so the caller
// should store a fresh HashPassword after the next successful login. A
// malformed hash needs rehashing too.
func NeedsRehash(encoded string, p Argon2Params) bool {
	h, err := parseHash(encoded)
	if err != nil {
		return true
	}
	return h.params != p || len(h.salt) != argon2SaltLen || len(h.key) != argon2KeyLen
}

// DummyHash returns a valid argon2id hash of a random password under p (or
// under DefaultArgon2 if p is invalid). Verifying any password against it
// costs as much as verifying a real hash and always fails, so callers can
// spend the same time on unknown users as on known ones. Compute it once at
// start-up; it costs one argon2id derivation.
func DummyHash(p Argon2Params) string {
	if p.Validate() != nil {
		p = DefaultArgon2
	}
	salt := make([]byte, argon2SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go ≥ 1.24)
	key := argon2.IDKey([]byte(rand.Text()), salt, p.Time, p.Memory, p.Threads, argon2KeyLen)
	return encodeHash(p, salt, key)
}

// Limits of CheckPassword.
const (
	passwordMinChars = 12
	passwordMaxBytes = 1024
)

// CheckPassword reports whether password is acceptable as an SFTP login
// password: at least 12 characters, at most 1024 bytes of valid UTF-8, and no
// control characters. It returns a *ValidationError with Field "password".
func CheckPassword(password string) error {
	if len(password) > passwordMaxBytes {
		return invalid("password", "must be at most %d bytes long (got %d)", passwordMaxBytes, len(password))
	}
	if !utf8.ValidString(password) {
		return invalid("password", "must be valid UTF-8 text")
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			return invalid("password", "must not contain control characters (such as NUL, tab or line breaks)")
		}
	}
	if n := utf8.RuneCountInString(password); n < passwordMinChars {
		return invalid("password", "must be at least %d characters long (got %d)", passwordMinChars, n)
	}
	return nil
}

// argon2Hash is a parsed PHC string.
type argon2Hash struct {
	params    Argon2Params
	salt, key []byte
}

func encodeHash(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
}

// parseHash parses $argon2id$v=19$m=M,t=T,p=P$salt$key strictly. Parameters
// come from storage, so it bounds them as Validate does (but accepts weaker
// ones: they verify, and NeedsRehash upgrades them).
func parseHash(encoded string) (argon2Hash, error) {
	var h argon2Hash
	for i := 0; i < len(encoded); i++ {
		if c := encoded[i]; c < 0x21 || c > 0x7e {
			// Also keeps base64 decoding strict: it skips \r and \n.
			return h, malformed("contains white space or non-ASCII characters")
		}
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, malformed("want $argon2id$v=19$m=…,t=…,p=…$salt$key")
	}
	if parts[1] != "argon2id" {
		return h, malformed("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, malformed("unsupported argon2 version (want v=%d)", argon2.Version)
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, malformed("want parameters m=…,t=…,p=…")
	}
	m, err := hashParam(params[0], "m", argon2MaxMemory)
	if err != nil {
		return h, err
	}
	t, err := hashParam(params[1], "t", argon2MaxTime)
	if err != nil {
		return h, err
	}
	p, err := hashParam(params[2], "p", argon2MaxThreads)
	if err != nil {
		return h, err
	}
	if m < 8*p {
		return h, malformed("memory m=%d is below 8 KiB per lane", m)
	}
	h.params = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	b64 := base64.RawStdEncoding.Strict()
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 || len(h.salt) > 64 {
		return h, malformed("salt must be 8 to 64 bytes of unpadded standard base64")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, malformed("key must be 16 to 64 bytes of unpadded standard base64")
	}
	return h, nil
}

// hashParam parses "name=value" with 1 ≤ value ≤ maxValue.
func hashParam(s, name string, maxValue uint64) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, malformed("want parameters m=…,t=…,p=… in that order")
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < 1 || n > maxValue || v[0] == '0' {
		return 0, malformed("parameter %s must be a decimal number from 1 to %d", name, maxValue)
	}
	return n, nil
}
