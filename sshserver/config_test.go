package sshserver_test

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/sshserver"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*sshserver.Config)
		want   string
	}{
		{name: "defaults", mutate: func(*sshserver.Config) {}},
		{name: "production port", mutate: func(c *sshserver.Config) { c.Listen = ":22" }},
		{name: "empty listen", mutate: func(c *sshserver.Config) { c.Listen = "" }, want: "sftp.listen: must not be empty"},
		{name: "listen without port", mutate: func(c *sshserver.Config) { c.Listen = "localhost" }, want: "sftp.listen: \"localhost\" is not host:port"},
		{name: "bad port", mutate: func(c *sshserver.Config) { c.Listen = ":99999" }, want: "sftp.listen: \":99999\" has an invalid port"},
		{name: "empty host key path", mutate: func(c *sshserver.Config) { c.HostKeys = []string{""} }, want: "sftp.host_keys[0]: must not be empty"},
		{name: "libssh alias", mutate: func(c *sshserver.Config) { c.KexAlgorithms = []string{"curve25519-sha256@libssh.org"} }},
		{name: "more kex", mutate: func(c *sshserver.Config) {
			c.KexAlgorithms = []string{ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeECDHP521, ssh.KeyExchangeMLKEM768X25519}
		}},
		{name: "sha1 kex", mutate: func(c *sshserver.Config) { c.KexAlgorithms = []string{"diffie-hellman-group14-sha1"} },
			want: `sftp.kex_algorithms: "diffie-hellman-group14-sha1" is refused as insecure`},
		{name: "group1 kex", mutate: func(c *sshserver.Config) {
			c.KexAlgorithms = []string{"curve25519-sha256", "diffie-hellman-group1-sha1"}
		},
			want: `sftp.kex_algorithms: "diffie-hellman-group1-sha1" is refused as insecure`},
		{name: "unknown kex", mutate: func(c *sshserver.Config) { c.KexAlgorithms = []string{"sntrup761x25519-sha512"} },
			want: `sftp.kex_algorithms: "sntrup761x25519-sha512" is not a supported algorithm (supported: `},
		{name: "empty kex", mutate: func(c *sshserver.Config) { c.KexAlgorithms = nil }, want: "sftp.kex_algorithms: must name at least one algorithm"},
		{name: "cbc cipher", mutate: func(c *sshserver.Config) { c.Ciphers = []string{"aes128-cbc"} }, want: `sftp.ciphers: "aes128-cbc" is refused as insecure`},
		{name: "unknown cipher", mutate: func(c *sshserver.Config) { c.Ciphers = []string{"aes128-gcm"} }, want: `sftp.ciphers: "aes128-gcm" is not a supported algorithm`},
		{name: "duplicate cipher", mutate: func(c *sshserver.Config) { c.Ciphers = []string{"aes128-ctr", "aes128-ctr"} }, want: `sftp.ciphers: "aes128-ctr" is listed twice`},
		{name: "aes-gcm only", mutate: func(c *sshserver.Config) { c.Ciphers = []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM} }},
		{name: "sha1 mac", mutate: func(c *sshserver.Config) { c.MACs = []string{"hmac-sha2-256", "hmac-sha1"} }, want: `sftp.macs: "hmac-sha1" is refused as insecure`},
		{name: "md5 mac", mutate: func(c *sshserver.Config) { c.MACs = []string{"hmac-md5"} }, want: `sftp.macs: "hmac-md5" is not a supported algorithm`},
		{name: "ssh-rsa", mutate: func(c *sshserver.Config) { c.PublicKeyAlgorithms = []string{"ssh-ed25519", "ssh-rsa"} },
			want: `sftp.public_key_algorithms: "ssh-rsa" is refused as insecure`},
		{name: "dsa", mutate: func(c *sshserver.Config) { c.PublicKeyAlgorithms = []string{"ssh-dss"} }, want: `sftp.public_key_algorithms: "ssh-dss" is refused`},
		{name: "zero handshake timeout", mutate: func(c *sshserver.Config) { c.HandshakeTimeout = 0 }, want: "sftp.handshake_timeout: must be a positive duration, got 0s"},
		{name: "idle timeout off", mutate: func(c *sshserver.Config) { c.IdleTimeout = 0 }},
		{name: "negative idle timeout", mutate: func(c *sshserver.Config) { c.IdleTimeout = -time.Second }, want: "sftp.idle_timeout: must be a positive duration"},
		{name: "zero shutdown timeout", mutate: func(c *sshserver.Config) { c.ShutdownTimeout = 0 }, want: "sftp.shutdown_timeout:"},
		{name: "zero partial retention", mutate: func(c *sshserver.Config) { c.PartialRetention = 0 }, want: "sftp.partial_retention:"},
		{name: "zero auth tries", mutate: func(c *sshserver.Config) { c.MaxAuthTries = 0 }, want: "sftp.max_auth_tries: must be at least 1"},
		{name: "unlimited connections", mutate: func(c *sshserver.Config) {
			c.MaxConnections, c.MaxConnectionsPerHost, c.MaxSessionsPerAccount = 0, 0, 0
		}},
		{name: "negative connections", mutate: func(c *sshserver.Config) { c.MaxConnections = -1 }, want: "sftp.max_connections: must be 0 (unlimited) or more"},
		{name: "negative per host", mutate: func(c *sshserver.Config) { c.MaxConnectionsPerHost = -1 }, want: "sftp.max_connections_per_host:"},
		{name: "negative per account", mutate: func(c *sshserver.Config) { c.MaxSessionsPerAccount = -1 }, want: "sftp.max_sessions_per_account:"},
		{name: "huge banner", mutate: func(c *sshserver.Config) { c.Banner = string(make([]byte, 5000)) }, want: "sftp.banner: must be at most 4096 bytes"},
		{name: "temp pattern with slash", mutate: func(c *sshserver.Config) { c.TempPatterns = []string{"tmp/*"} }, want: `sftp.temp_patterns[0]: "tmp/*" must be a non-empty pattern`},
		{name: "bad temp pattern", mutate: func(c *sshserver.Config) { c.TempPatterns = []string{"*.part", "[x"} }, want: `sftp.temp_patterns[1]: "[x" is not a valid pattern`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sshserver.DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			_, err = sshserver.New(cfg, newHarnessAuth(), newMemFiles(), nil, nil, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := sshserver.DefaultConfig()
	require.Equal(t, ":2022", cfg.Listen)
	require.Equal(t, 20*time.Second, cfg.HandshakeTimeout)
	require.Equal(t, 24*time.Hour, cfg.PartialRetention)
	require.Equal(t, []string{"*.filepart", "*.part", "*.tmp", "*.partial", ".~*"}, cfg.TempPatterns)
	require.Contains(t, cfg.KexAlgorithms, "mlkem768x25519-sha256")
	// Defaults are copies: changing one config leaves the next alone.
	cfg.Ciphers[0] = "changed"
	require.Equal(t, ssh.CipherAES128GCM, sshserver.DefaultConfig().Ciphers[0])
}

// TestAlgorithms connects with clients that insist on one algorithm.
func TestAlgorithms(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	key := newEd25519(t)
	dir := t.TempDir()
	keyPath := writeKey(t, dir, "id_ed25519", key)
	h := startHarness(t, harnessOpts{cfg: func(c *sshserver.Config) {
		c.HostKeys = append(c.HostKeys, writeKey(t, dir, "host_rsa", rsaKey))
	}})
	h.auth.add(credentials.Account{Name: "acme"}, "pw", pub(t, key))

	t.Run("openssh", func(t *testing.T) {
		requireOpenSSH(t)
		// Whichever side notices first ends the handshake, so the refusal
		// is read from the server's log.
		tests := []struct {
			option string
			want   string // in the server's log; "" means success
		}{
			{"Ciphers=aes128-gcm@openssh.com", ""},
			{"Ciphers=chacha20-poly1305@openssh.com", ""},
			{"Ciphers=aes256-ctr", ""},
			{"KexAlgorithms=curve25519-sha256@libssh.org", ""},
			{"KexAlgorithms=ecdh-sha2-nistp384", ""},
			{"HostKeyAlgorithms=rsa-sha2-256", ""},
			{"Ciphers=aes128-cbc", "no common algorithm for client to server cipher"},
			{"Ciphers=3des-cbc", "no common algorithm for client to server cipher"},
			{"KexAlgorithms=diffie-hellman-group1-sha1", "no common algorithm for key exchange"},
			{"KexAlgorithms=diffie-hellman-group14-sha1", "no common algorithm for key exchange"},
			{"KexAlgorithms=sntrup761x25519-sha512@openssh.com", "no common algorithm for key exchange"},
			{"MACs=hmac-sha1", "no common algorithm for client to server MAC"},
			{"HostKeyAlgorithms=ssh-rsa", "no common algorithm for host key"},
			{"HostKeyAlgorithms=ssh-dss", "no common algorithm for host key"},
		}
		for _, tc := range tests {
			t.Run(tc.option, func(t *testing.T) {
				extra := []string{tc.option}
				if tc.option == "MACs=hmac-sha1" {
					extra = append(extra, "Ciphers=aes128-ctr") // an AEAD cipher needs no MAC
				}
				out, err := h.runSFTP(t, openSSH{user: "acme", keyPath: keyPath, extra: extra}, "pwd\n")
				if tc.want == "" {
					require.NoError(t, err, out)
					return
				}
				require.Error(t, err, out)
				waitFor(t, "the refusal in the log", func() bool {
					return strings.Contains(h.logs.String(), tc.want+"; we offered")
				})
			})
		}
	})

	t.Run("go", func(t *testing.T) {
		tests := []struct {
			name string
			cfg  ssh.Config
			host []string
			ok   bool
		}{
			{name: "mlkem768x25519", cfg: ssh.Config{KeyExchanges: []string{ssh.KeyExchangeMLKEM768X25519}}, ok: true},
			{name: "ecdh p256", cfg: ssh.Config{KeyExchanges: []string{ssh.KeyExchangeECDHP256}}, ok: true},
			{name: "hmac-sha2-512-etm", cfg: ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}, MACs: []string{ssh.HMACSHA512ETM}}, ok: true},
			{name: "ed25519 host key", host: []string{ssh.KeyAlgoED25519}, ok: true},
			{name: "rsa-sha2-512 host key", host: []string{ssh.KeyAlgoRSASHA512}, ok: true},
			{name: "dh group14 sha256 not offered", cfg: ssh.Config{KeyExchanges: []string{ssh.KeyExchangeDH14SHA256}}},
			{name: "rc4", cfg: ssh.Config{Ciphers: []string{ssh.InsecureCipherRC4128}}},
			{name: "hmac-sha1-96", cfg: ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}, MACs: []string{ssh.InsecureHMACSHA196}}},
			{name: "ssh-rsa host key", host: []string{ssh.KeyAlgoRSA}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, err := h.dialConfig(&ssh.ClientConfig{Config: tc.cfg, User: "acme", HostKeyAlgorithms: tc.host,
					Auth: []ssh.AuthMethod{ssh.Password("pw")}})
				if !tc.ok {
					require.ErrorContains(t, err, "no common algorithm")
					return
				}
				require.NoError(t, err)
				c.Close()
			})
		}
	})
}
