package sshserver

import (
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config configures the SFTP server. Keys live under `sftp.` in the
// configuration file. The zero value is not usable; start from DefaultConfig.
type Config struct {
	// Listen is the TCP address the server listens on, host:port. The
	// production example uses ":22".
	Listen string `yaml:"listen" koanf:"listen"`
	// HostKeys are paths of the server's private host keys (OpenSSH or PEM
	// format, unencrypted). Empty: an ed25519 and an rsa-3072 key are
	// generated into HostKeyDir on first start and loaded from there
	// afterwards. Every node of a deployment must present the same keys, so
	// a cluster configures paths (or shares the data directory's keys).
	HostKeys []string `yaml:"host_keys" koanf:"host_keys"`
	// HostKeyDir is where generated host keys live, <data_dir>/hostkeys; set
	// by the caller, not by configuration.
	HostKeyDir string `yaml:"-" koanf:"-"`

	// KexAlgorithms are the key exchange algorithms offered. The library's
	// defaults include SHA-1 key exchanges; these do not.
	KexAlgorithms []string `yaml:"kex_algorithms" koanf:"kex_algorithms"`
	// Ciphers are the ciphers offered. The server's order does not change
	// which one an OpenSSH client picks (it prefers chacha20-poly1305, which
	// has no assembly implementation in Go and runs at about 0.6× of
	// OpenSSH; AES-GCM is the fast choice). Drop chacha20-poly1305 to make
	// clients use AES-GCM, at the price of refusing clients that only speak
	// chacha20.
	Ciphers []string `yaml:"ciphers" koanf:"ciphers"`
	// MACs are the message authentication codes offered (AEAD ciphers need
	// none). No SHA-1.
	MACs []string `yaml:"macs" koanf:"macs"`
	// PublicKeyAlgorithms are the signature algorithms accepted for client
	// keys: no ssh-rsa (SHA-1) and no DSA.
	PublicKeyAlgorithms []string `yaml:"public_key_algorithms" koanf:"public_key_algorithms"`

	// HandshakeTimeout bounds the SSH handshake, authentication included.
	// The library sets none, so without it a client that never speaks holds
	// a connection forever.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" koanf:"handshake_timeout"`
	// IdleTimeout closes a connection that has moved no bytes in either
	// direction for this long. 0 disables it.
	IdleTimeout time.Duration `yaml:"idle_timeout" koanf:"idle_timeout"`
	// MaxAuthTries is the number of failed authentication attempts allowed
	// on one connection before it is closed.
	MaxAuthTries int `yaml:"max_auth_tries" koanf:"max_auth_tries"`
	// MaxConnections caps concurrent connections, handshaking or
	// authenticated. Excess connections are closed before the handshake.
	// 0: unlimited.
	MaxConnections int `yaml:"max_connections" koanf:"max_connections"`
	// MaxConnectionsPerHost caps concurrent connections from one source
	// address; excess connections are closed before the handshake. Parallel
	// uploaders (rclone, lftp) open many. 0: unlimited.
	MaxConnectionsPerHost int `yaml:"max_connections_per_host" koanf:"max_connections_per_host"`
	// MaxSessionsPerAccount caps concurrent authenticated connections of one
	// account; excess logins are refused. 0: unlimited.
	MaxSessionsPerAccount int `yaml:"max_sessions_per_account" koanf:"max_sessions_per_account"`
	// Banner is text shown to clients before authentication (OpenSSH prints
	// it to the terminal). Empty: none.
	Banner string `yaml:"banner" koanf:"banner"`
	// ShutdownTimeout bounds how long a shutdown waits for SFTP sessions
	// with transfers in flight before it closes them.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" koanf:"shutdown_timeout"`

	// PartialRetention is how long the temporary file of an interrupted
	// upload is kept for the client to resume it.
	PartialRetention time.Duration `yaml:"partial_retention" koanf:"partial_retention"`
	// TempPatterns are path.Match patterns on a file's base name marking
	// client-side temporary names (WinSCP's *.filepart and the like):
	// closing such a file is not an upload, renaming it to a final name is.
	TempPatterns []string `yaml:"temp_patterns" koanf:"temp_patterns"`
}

// The defaults of the algorithm lists and temporary-name patterns; see
// Config for the reasoning. DefaultConfig returns copies.
var (
	// DefaultKexAlgorithms: hybrid post-quantum ML-KEM first, then
	// curve25519 (which also admits its libssh.org alias) and NIST ECDH.
	DefaultKexAlgorithms = []string{
		ssh.KeyExchangeMLKEM768X25519,
		ssh.KeyExchangeCurve25519,
		ssh.KeyExchangeECDHP256,
		ssh.KeyExchangeECDHP384,
	}
	// DefaultCiphers: AEAD ciphers first, CTR for old clients; no CBC.
	DefaultCiphers = []string{
		ssh.CipherAES128GCM,
		ssh.CipherAES256GCM,
		ssh.CipherChaCha20Poly1305,
		ssh.CipherAES128CTR,
		ssh.CipherAES256CTR,
	}
	// DefaultMACs: SHA-2 only, encrypt-then-MAC first.
	DefaultMACs = []string{
		ssh.HMACSHA256ETM,
		ssh.HMACSHA512ETM,
		ssh.HMACSHA256,
		ssh.HMACSHA512,
	}
	// DefaultPublicKeyAlgorithms: Ed25519, ECDSA, security keys and RSA
	// with SHA-2 signatures; no ssh-rsa (SHA-1), no DSA.
	DefaultPublicKeyAlgorithms = []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoECDSA256,
		ssh.KeyAlgoECDSA384,
		ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoSKECDSA256,
		ssh.KeyAlgoRSASHA256,
		ssh.KeyAlgoRSASHA512,
	}
)

// kexCurve25519LibSSH is the pre-RFC name of curve25519-sha256 that old
// OpenSSH clients send; the library adds it whenever curve25519-sha256 is
// configured, and accepts it when named.
const kexCurve25519LibSSH = "curve25519-sha256@libssh.org"

// refused reports whether Sluice refuses the algorithm name although the
// library implements it: the library's insecure algorithms (SHA-1 key
// exchanges, CBC and RC4 ciphers, ssh-rsa and DSA signatures) and hmac-sha1,
// which the library still counts as supported.
func refused(name string) bool {
	in := ssh.InsecureAlgorithms()
	for _, l := range [][]string{in.KeyExchanges, in.Ciphers, in.MACs, in.HostKeys, in.PublicKeyAuths} {
		if slices.Contains(l, name) {
			return true
		}
	}
	return name == ssh.HMACSHA1
}

// DefaultConfig returns the built-in defaults: port 2022, generated host
// keys, modern algorithms only, a 20 s handshake deadline, a 15 min idle
// timeout and generous connection limits.
func DefaultConfig() Config {
	return Config{
		Listen:                ":2022",
		HostKeys:              []string{},
		KexAlgorithms:         slices.Clone(DefaultKexAlgorithms),
		Ciphers:               slices.Clone(DefaultCiphers),
		MACs:                  slices.Clone(DefaultMACs),
		PublicKeyAlgorithms:   slices.Clone(DefaultPublicKeyAlgorithms),
		HandshakeTimeout:      20 * time.Second,
		IdleTimeout:           15 * time.Minute,
		MaxAuthTries:          6,
		MaxConnections:        1000,
		MaxConnectionsPerHost: 100,
		MaxSessionsPerAccount: 100,
		ShutdownTimeout:       30 * time.Second,
		PartialRetention:      24 * time.Hour,
		TempPatterns:          slices.Clone(DefaultTempPatterns),
	}
}

// Validate reports the first invalid field of c, naming its configuration key
// (for example "sftp.ciphers: ...").
func (c Config) Validate() error {
	if err := validateListen(c.Listen); err != nil {
		return fmt.Errorf("sftp.listen: %w", err)
	}
	for i, p := range c.HostKeys {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("sftp.host_keys[%d]: must not be empty", i)
		}
	}
	supported := ssh.SupportedAlgorithms()
	for _, l := range []struct {
		key       string
		names     []string
		supported []string
	}{
		{"sftp.kex_algorithms", c.KexAlgorithms, append(supported.KeyExchanges, kexCurve25519LibSSH)},
		{"sftp.ciphers", c.Ciphers, supported.Ciphers},
		{"sftp.macs", c.MACs, supported.MACs},
		{"sftp.public_key_algorithms", c.PublicKeyAlgorithms, supported.PublicKeyAuths},
	} {
		if err := validateAlgorithms(l.names, l.supported); err != nil {
			return fmt.Errorf("%s: %w", l.key, err)
		}
	}
	for _, d := range []struct {
		key      string
		v        time.Duration
		positive bool
	}{
		{"sftp.handshake_timeout", c.HandshakeTimeout, true},
		{"sftp.idle_timeout", c.IdleTimeout, false},
		{"sftp.shutdown_timeout", c.ShutdownTimeout, true},
		{"sftp.partial_retention", c.PartialRetention, true},
	} {
		if d.v < 0 || (d.positive && d.v == 0) {
			return fmt.Errorf("%s: must be a positive duration, got %s", d.key, d.v)
		}
	}
	if c.MaxAuthTries < 1 {
		return fmt.Errorf("sftp.max_auth_tries: must be at least 1, got %d", c.MaxAuthTries)
	}
	for _, n := range []struct {
		key string
		v   int
	}{
		{"sftp.max_connections", c.MaxConnections},
		{"sftp.max_connections_per_host", c.MaxConnectionsPerHost},
		{"sftp.max_sessions_per_account", c.MaxSessionsPerAccount},
	} {
		if n.v < 0 {
			return fmt.Errorf("%s: must be 0 (unlimited) or more, got %d", n.key, n.v)
		}
	}
	if len(c.Banner) > 4096 {
		return fmt.Errorf("sftp.banner: must be at most 4096 bytes, got %d", len(c.Banner))
	}
	for i, p := range c.TempPatterns {
		if p == "" || strings.Contains(p, "/") {
			return fmt.Errorf("sftp.temp_patterns[%d]: %q must be a non-empty pattern on a base name (no '/')", i, p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("sftp.temp_patterns[%d]: %q is not a valid pattern: %w", i, p, err)
		}
	}
	return nil
}

// validateAlgorithms checks that names is a non-empty list of supported,
// strong algorithms without duplicates.
func validateAlgorithms(names, supported []string) error {
	if len(names) == 0 {
		return errors.New("must name at least one algorithm")
	}
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case refused(n):
			return fmt.Errorf("%q is refused as insecure (SHA-1, DSA, CBC or RC4)", n)
		case !slices.Contains(supported, n):
			return fmt.Errorf("%q is not a supported algorithm (supported: %s)", n, strings.Join(supported, ", "))
		case seen[n]:
			return fmt.Errorf("%q is listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

func validateListen(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}
