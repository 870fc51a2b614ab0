package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// serverGreeting reads what the SFTP server sends first on a fresh TCP
// connection: its SSH version line, or nothing when it drops the connection
// before the handshake.
func (s *sftpServer) serverGreeting(t *testing.T) string {
	t.Helper()
	conn, err := net.Dial("tcp", s.sftpAddr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 8)
	n, err := io.ReadFull(conn, buf)
	if n == 0 {
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server neither spoke nor closed the connection")
	}
	return string(buf[:n])
}

// TestE2EDefenderHoneypot logs in once as a honeypot user name (root): the
// defender, with its defaults (no allow list, loopback not exempt), bans the
// address, and its next connection is dropped before the SSH handshake.
func TestE2EDefenderHoneypot(t *testing.T) {
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)

	require.Equal(t, "SSH-2.0-", s.serverGreeting(t), "before the ban the server greets")
	c, err := s.dialSSH(acme.name, ssh.PublicKeys(acme.signer))
	require.NoError(t, err, "before the ban the account logs in")
	c.Close()

	_, err = s.dialSSH("root", ssh.Password("toor"))
	require.Error(t, err)
	waitUntil(t, 5*time.Second, "the ban to be logged", func() bool {
		return s.logLines(t, `msg="address banned" .*reason="honeypot user name root"`) == 1
	})

	require.Empty(t, s.serverGreeting(t), "a banned address is dropped before the handshake")
	_, err = s.dialSSH(acme.name, ssh.PublicKeys(acme.signer))
	require.Error(t, err, "a banned address cannot log in with the right key")
}

// TestE2EAccountRefused refuses logins of a disabled account and from an
// address outside the account's allowed_cidrs, by key and by password, and
// lets them in again once the account is changed back.
func TestE2EAccountRefused(t *testing.T) {
	requireTools(t, "sftp", "ssh")
	// Refused logins count as failures: the defender must not ban the test's
	// own address halfway, which would refuse logins for another reason.
	s := startSFTPServer(t, map[string]string{
		"SLUICE_DEFENDER_MAX_FAILURES":         "1000",
		"SLUICE_DEFENDER_ACCOUNT_MAX_FAILURES": "1000",
	})
	acme := s.newAccount(t, "acme", nil)
	local := t.TempDir()

	tests := []struct {
		name    string
		refuse  map[string]any
		reason  string // the refusal as logged
		restore map[string]any
	}{
		{
			name:    "disabled account",
			refuse:  map[string]any{"disabled": true},
			reason:  "account-disabled",
			restore: map[string]any{"disabled": false},
		},
		{
			name:    "source address outside allowed_cidrs",
			refuse:  map[string]any{"allowed_cidrs": []string{"192.0.2.0/24", "2001:db8::/32"}},
			reason:  "source-address",
			restore: map[string]any{"allowed_cidrs": []string{"192.0.2.0/24", "127.0.0.0/8"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.api(t, http.MethodPatch, "/api/v1/accounts/"+acme.name, tc.refuse, http.StatusOK)
			for _, how := range []auth{byKey, byPassword} {
				refused := s.logLines(t, `msg="login refused".*result=denied:`+tc.reason)
				out, err := s.runSFTP(t, acme, how, local, "pwd")
				require.Error(t, err, out)
				require.NotContains(t, out, "Remote working directory")
				require.Greater(t, s.logLines(t, `msg="login refused".*result=denied:`+tc.reason), refused, "refused for the right reason")
			}
			require.Zero(t, s.logLines(t, `msg="address banned"`))

			s.api(t, http.MethodPatch, "/api/v1/accounts/"+acme.name, tc.restore, http.StatusOK)
			for _, how := range []auth{byKey, byPassword} {
				out, err := s.runSFTP(t, acme, how, local, "pwd")
				require.NoError(t, err, out)
				require.Contains(t, out, "Remote working directory: /")
			}
		})
	}
}

// TestE2EUnknownUserTiming compares how long the server takes to refuse a
// password for an unknown user and a wrong password for a known one: the
// medians must be close, or the timing tells which user names exist. It is
// a side-channel check, not a speed target; each attempt is a new
// connection and only the password exchange is timed.
func TestE2EUnknownUserTiming(t *testing.T) {
	// Off: 60 failures from one address would ban it.
	s := startSFTPServer(t, map[string]string{"SLUICE_DEFENDER_ENABLED": "false"})
	acme := s.newAccount(t, "acme", nil)

	attempt := func(user string) time.Duration {
		t.Helper()
		var sent time.Time
		_, err := s.dialSSH(user, ssh.PasswordCallback(func() (string, error) {
			sent = time.Now() // the handshake is done; the password goes out now
			return "Wrong-Password-4471-xq", nil
		}))
		took := time.Since(sent)
		require.Error(t, err)
		require.False(t, sent.IsZero(), "the password was never asked for")
		return took
	}
	for range 3 { // warm-up: caches, the first argon2 allocation
		attempt("nobody-here")
		attempt(acme.name)
	}
	const n = 31
	var unknown, known []time.Duration
	// Interleaved, so that a load spike hits both alike, and in alternating
	// order: an attempt right after another one is a little slower (the
	// server is still tearing the previous connection down), which would
	// otherwise always count against the same side.
	for i := range n {
		if i%2 == 0 {
			unknown = append(unknown, attempt("nobody-here"))
			known = append(known, attempt(acme.name))
		} else {
			known = append(known, attempt(acme.name))
			unknown = append(unknown, attempt("nobody-here"))
		}
	}
	mu, mk := median(unknown), median(known)
	ratio := float64(mu) / float64(mk)
	t.Logf("median refusal: unknown user %s, known user %s, ratio %.2f", mu, mk, ratio)
	require.True(t, ratio >= 0.5 && ratio <= 2, "unknown user %s vs known user %s: ratio %.2f", mu, mk, ratio)
	require.Zero(t, s.logLines(t, `msg="address banned"`))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
