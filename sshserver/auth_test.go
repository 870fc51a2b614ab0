package sshserver_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/sshserver"
)

var netipLoopback = netip.MustParseAddr("127.0.0.1")

func TestLogin(t *testing.T) {
	key, stranger := newEd25519(t), newEd25519(t)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	strangerSigner, err := ssh.NewSignerFromKey(stranger)
	require.NoError(t, err)
	// MaxFailures 1: every failure that counts bans the loopback address,
	// which the test then checks and lifts.
	h := startHarness(t, harnessOpts{def: func(c *defender.Config) { c.MaxFailures = 1 }})
	h.auth.add(credentials.Account{Name: "acme"}, "pw", pub(t, key))
	h.auth.add(credentials.Account{Name: "off", Disabled: true}, "pw")
	h.auth.add(credentials.Account{Name: "far", AllowedCIDRs: []string{"10.0.0.0/8", "192.0.2.1"}}, "pw")
	h.auth.add(credentials.Account{Name: "near", AllowedCIDRs: []string{"10.0.0.0/8", "127.0.0.0/8"}}, "pw")
	h.auth.add(credentials.Account{Name: "both"}, "pw", pub(t, key)).requireBoth = true
	h.auth.add(credentials.Account{Name: "locked"}, "pw")
	for i := range 20 {
		h.def.Failure(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), "locked")
	}
	require.True(t, h.def.AccountLocked("locked"))

	tests := []struct {
		name    string
		user    string
		auth    []ssh.AuthMethod
		broken  bool
		ok      bool
		method  string   // of the session, when ok
		results []string // audit results of user
		banned  bool     // the attempt counted as a failure
	}{
		{name: "password", user: "acme", auth: []ssh.AuthMethod{ssh.Password("pw")}, ok: true, method: "password", results: []string{"ok"}},
		{name: "key", user: "acme", auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, ok: true, method: "publickey", results: []string{"ok"}},
		{name: "wrong password", user: "acme", auth: []ssh.AuthMethod{ssh.Password("nope")}, results: []string{"denied:bad-credentials"}, banned: true},
		{name: "unknown user", user: "nobody", auth: []ssh.AuthMethod{ssh.Password("pw")}, results: []string{"denied:bad-credentials"}, banned: true},
		{name: "unknown key", user: "acme", auth: []ssh.AuthMethod{ssh.PublicKeys(strangerSigner)}, results: []string{"denied:unknown-key"}, banned: true},
		{name: "unknown key then password", user: "acme", auth: []ssh.AuthMethod{ssh.PublicKeys(strangerSigner), ssh.Password("pw")},
			ok: true, method: "password", results: []string{"denied:unknown-key", "ok"}},
		{name: "disabled account", user: "off", auth: []ssh.AuthMethod{ssh.Password("pw")}, results: []string{"denied:account-disabled"}, banned: true},
		{name: "source address outside allowed_cidrs", user: "far", auth: []ssh.AuthMethod{ssh.Password("pw")}, results: []string{"denied:source-address"}, banned: true},
		{name: "source address inside allowed_cidrs", user: "near", auth: []ssh.AuthMethod{ssh.Password("pw")}, ok: true, method: "password", results: []string{"ok"}},
		{name: "locked account refuses the right password", user: "locked", auth: []ssh.AuthMethod{ssh.Password("pw")}, results: []string{"denied:account-locked"}},
		{name: "key and password", user: "both", auth: []ssh.AuthMethod{ssh.PublicKeys(signer), ssh.Password("pw")},
			ok: true, method: "publickey,password", results: []string{"partial:publickey", "ok"}},
		{name: "key alone when both are required", user: "both", auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, results: []string{"partial:publickey"}},
		{name: "password alone when both are required", user: "both", auth: []ssh.AuthMethod{ssh.Password("pw")}, results: []string{"denied:key-required"}},
		{name: "key then wrong password", user: "both", auth: []ssh.AuthMethod{ssh.PublicKeys(signer), ssh.Password("nope")},
			results: []string{"partial:publickey", "denied:bad-credentials"}, banned: true},
		{name: "authenticator failing", user: "acme", auth: []ssh.AuthMethod{ssh.Password("pw")}, broken: true, results: []string{"denied:error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.audit.mu.Lock()
			h.audit.events = nil
			h.audit.mu.Unlock()
			h.auth.mu.Lock()
			h.auth.broken = tc.broken
			h.auth.mu.Unlock()
			t.Cleanup(func() { h.def.Lift(netipLoopback) })

			c, err := h.dial(tc.user, tc.auth...)
			if tc.ok {
				require.NoError(t, err)
				waitFor(t, "the session", func() bool { return len(h.srv.Sessions()) == 1 })
				sessions := h.srv.Sessions()
				require.Equal(t, tc.method, sessions[0].Method)
				require.Equal(t, tc.user, sessions[0].Account.Name)
				c.Close()
				waitFor(t, "the session to end", func() bool { return len(h.srv.Sessions()) == 0 })
			} else {
				require.Error(t, err)
				require.NotContains(t, err.Error(), strings.TrimPrefix(tc.results[len(tc.results)-1], "denied:"),
					"the client must not learn why")
			}
			require.Equal(t, tc.results, h.audit.results(tc.user))
			if tc.banned {
				// Refused keys count when the connection ends, after the client gave up.
				waitFor(t, "the failure to be counted", func() bool { return h.def.Banned(netipLoopback) })
			} else {
				require.False(t, h.def.Banned(netipLoopback), "counted as a failure")
			}
		})
	}
	require.Contains(t, h.auth.usedIDs(), "key0-both")
	require.Contains(t, h.auth.usedIDs(), "pw-both")
}

func TestOpenSSHLogin(t *testing.T) {
	requireOpenSSH(t)
	key, stranger := newEd25519(t), newEd25519(t)
	dir := t.TempDir()
	keyPath := writeKey(t, dir, "id_ed25519", key)
	strangerPath := writeKey(t, dir, "id_stranger", stranger)
	h := startHarness(t, harnessOpts{})
	h.auth.add(credentials.Account{Name: "acme"}, "s3cret pass", pub(t, key))
	h.auth.add(credentials.Account{Name: "both"}, "s3cret pass", pub(t, key)).requireBoth = true
	h.auth.add(credentials.Account{Name: "off", Disabled: true}, "s3cret pass")
	h.auth.add(credentials.Account{Name: "far", AllowedCIDRs: []string{"192.0.2.0/24"}}, "s3cret pass")

	one := "NumberOfPasswordPrompts=1"
	tests := []struct {
		name    string
		o       openSSH
		ok      bool
		results []string
	}{
		{"key", openSSH{user: "acme", keyPath: keyPath}, true, []string{"ok"}},
		{"password", openSSH{user: "acme", password: "s3cret pass"}, true, []string{"ok"}},
		{"wrong password", openSSH{user: "acme", password: "guess", extra: []string{one}}, false, []string{"denied:bad-credentials"}},
		{"unknown user", openSSH{user: "ghost", password: "s3cret pass", extra: []string{one}}, false, []string{"denied:bad-credentials"}},
		{"unknown key", openSSH{user: "acme", keyPath: strangerPath}, false, []string{"denied:unknown-key"}},
		{"disabled account", openSSH{user: "off", password: "s3cret pass", extra: []string{one}}, false, []string{"denied:account-disabled"}},
		{"outside allowed_cidrs", openSSH{user: "far", password: "s3cret pass", extra: []string{one}}, false, []string{"denied:source-address"}},
		{"key and password", openSSH{user: "both", keyPath: keyPath, password: "s3cret pass"}, true, []string{"partial:publickey", "ok"}},
		{"key alone when both are required", openSSH{user: "both", keyPath: keyPath}, false, []string{"partial:publickey"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.audit.mu.Lock()
			h.audit.events = nil
			h.audit.mu.Unlock()
			out, err := h.runSFTP(t, tc.o, "pwd\n")
			if tc.ok {
				require.NoError(t, err, out)
				require.Contains(t, out, "Remote working directory: /")
			} else {
				require.Error(t, err, out)
				require.Contains(t, out, "Permission denied")
			}
			require.Equal(t, tc.results, h.audit.results(tc.o.user))
			h.def.Lift(netipLoopback)
		})
	}
}

func TestHoneypotBan(t *testing.T) {
	requireOpenSSH(t)
	h := startHarness(t, harnessOpts{})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	require.Equal(t, "SSH-2.0-Sluice\r\n", h.probe(t))

	out, err := h.runSFTP(t, openSSH{user: "root", password: "toor", extra: []string{"NumberOfPasswordPrompts=3"}}, "pwd\n")
	require.Error(t, err, out)
	require.Equal(t, []string{"denied:bad-credentials"}, h.audit.results("root"), "the connection ends at the first attempt")
	require.True(t, h.def.Banned(netipLoopback))
	bans := h.def.Bans()
	require.Len(t, bans, 1)
	require.Equal(t, "honeypot user name root", bans[0].Reason)

	// The next connection is dropped before the handshake, even with good credentials.
	require.Empty(t, h.probe(t))
	_, err = h.dial("acme", ssh.Password("pw"))
	require.Error(t, err)
	require.Equal(t, []string(nil), h.audit.results("acme"), "no attempt reached authentication")

	require.True(t, h.def.Lift(netipLoopback))
	c, err := h.dial("acme", ssh.Password("pw"))
	require.NoError(t, err)
	c.Close()
}

func TestHoneypotKeyProbeBans(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	signer, err := ssh.NewSignerFromKey(newEd25519(t))
	require.NoError(t, err)
	_, err = h.dial("admin", ssh.PublicKeys(signer))
	require.Error(t, err)
	require.True(t, h.def.Banned(netipLoopback))
	require.Equal(t, []string{"denied:unknown-key"}, h.audit.results("admin"))
}

func TestRefusedKeysCountOncePerConnection(t *testing.T) {
	h := startHarness(t, harnessOpts{def: func(c *defender.Config) { c.MaxFailures = 2 }})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	var signers []ssh.Signer
	for range 3 {
		s, err := ssh.NewSignerFromKey(newEd25519(t))
		require.NoError(t, err)
		signers = append(signers, s)
	}
	// An agent with three keys, none authorized: one failure, not three.
	_, err := h.dial("acme", ssh.PublicKeys(signers...))
	require.Error(t, err)
	require.Len(t, h.audit.results("acme"), 3)
	waitFor(t, "the failure to be counted", func() bool {
		_, err := h.dial("acme", ssh.PublicKeys(signers[0]))
		return err != nil && h.def.Banned(netipLoopback)
	})
}

func TestSlowAuditorDoesNotBlockLogins(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	h.audit.mu.Lock()
	h.audit.block = true
	h.audit.mu.Unlock()
	start := time.Now()
	c, err := h.dial("acme", ssh.Password("pw"))
	require.NoError(t, err)
	c.Close()
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestPermissionsCarryIdentity(t *testing.T) {
	// The identity decided at login is what the file system receives.
	h := startHarness(t, harnessOpts{})
	key := newEd25519(t)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	h.auth.add(credentials.Account{Name: "acme", MaxFileSize: 7}, "pw", pub(t, key))
	sc := h.sftpClient(t, "acme", ssh.PublicKeys(signer))
	_, err = sc.Getwd()
	require.NoError(t, err)
	h.files.mu.Lock()
	defer h.files.mu.Unlock()
	require.Len(t, h.files.started, 1)
	s := h.files.started[0]
	require.Equal(t, sshserver.Session{
		ID: s.ID, Account: credentials.Account{Name: "acme", MaxFileSize: 7}, Remote: s.Remote,
		ClientVersion: s.ClientVersion, Method: "publickey", KeyFingerprint: ssh.FingerprintSHA256(pub(t, key)), Started: s.Started,
	}, s)
}

func TestClientTextIsSanitized(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	user := "evil\x1b[31m\nuser" + strings.Repeat("x", 100)
	_, err := h.dial(user, ssh.Password("pw"))
	require.Error(t, err)
	events := h.audit.all()
	require.Len(t, events, 1)
	require.Equal(t, "evil?[31m?user"+strings.Repeat("x", 50), events[0].Actor)
	require.Equal(t, "accounts/"+events[0].Actor, events[0].Target)
	require.NotContains(t, h.logs.String(), "\x1b")
}
