package sshserver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/sshserver"
)

func TestOpenSSHRoundTrip(t *testing.T) {
	requireOpenSSH(t)
	h := startHarness(t, harnessOpts{})
	key := newEd25519(t)
	keyPath := writeKey(t, t.TempDir(), "id_ed25519", key)
	h.auth.add(credentials.Account{Name: "acme"}, "correct horse battery", pub(t, key))

	local := t.TempDir()
	payload := bytes.Repeat([]byte("sluice,0123456789\n"), 100_000) // 1.8 MB: many writes in flight
	require.NoError(t, os.WriteFile(filepath.Join(local, "in.csv"), payload, 0o600))

	tests := []struct {
		name string
		o    openSSH
	}{
		{"public key", openSSH{user: "acme", keyPath: keyPath}},
		{"password", openSSH{user: "acme", password: "correct horse battery"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			remote := "/up" + strconv.Itoa(i) + ".csv"
			back := filepath.Join(local, "back"+strconv.Itoa(i))
			out, err := h.runSFTP(t, tc.o, fmt.Sprintf("put %s %s\nget %s %s\nls -l /\n",
				filepath.Join(local, "in.csv"), remote, remote, back))
			require.NoError(t, err, out)
			got, err := os.ReadFile(back)
			require.NoError(t, err)
			require.True(t, bytes.Equal(payload, got), "round trip changed the file")
		})
	}
	require.Equal(t, []string{"ok", "ok"}, h.audit.results("acme"))
	require.Equal(t, []string{"key0-acme", "pw-acme"}, h.auth.usedIDs())
	waitFor(t, "both SFTP subsystems to end", func() bool { s, e := h.files.counts(); return s == 2 && e == 2 })
	ev := h.audit.all()
	require.Equal(t, "sftp.login", ev[0].Action)
	require.Equal(t, "accounts/acme/credentials/key0", ev[0].Target)
	require.Equal(t, "accounts/acme/credentials/login", ev[1].Target)
	require.True(t, strings.HasPrefix(ev[0].Remote, "127.0.0.1:"), ev[0].Remote)
	require.NotEmpty(t, ev[0].RequestID)
}

func TestExecAndOtherChannelsRefused(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	c, err := h.dial("acme", ssh.Password("pw"))
	require.NoError(t, err)
	defer c.Close()

	for _, tc := range []struct {
		name string
		run  func(*ssh.Session) error
	}{
		{"exec", func(s *ssh.Session) error { return s.Run("cat /etc/passwd") }},
		{"shell", func(s *ssh.Session) error { return s.Shell() }},
		{"pty", func(s *ssh.Session) error { return s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}) }},
		{"other subsystem", func(s *ssh.Session) error { return s.RequestSubsystem("netconf") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.NewSession()
			require.NoError(t, err)
			defer s.Close()
			require.Error(t, tc.run(s))
		})
	}
	t.Run("direct-tcpip", func(t *testing.T) {
		_, err := c.Dial("tcp", "127.0.0.1:22")
		var oc *ssh.OpenChannelError
		require.ErrorAs(t, err, &oc)
		require.Equal(t, ssh.UnknownChannelType, oc.Reason)
	})
	// The connection still serves SFTP afterwards.
	sc, err := sftp.NewClient(c)
	require.NoError(t, err)
	_, err = sc.Getwd()
	require.NoError(t, err)
	sc.Close()
}

func TestBrokenFileSystemIsContained(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	for _, fail := range []string{"panic", "error"} {
		t.Run(fail, func(t *testing.T) {
			h.files.mu.Lock()
			h.files.fail = fail
			h.files.mu.Unlock()
			c, err := h.dial("acme", ssh.Password("pw"))
			require.NoError(t, err)
			defer c.Close()
			_, err = sftp.NewClient(c)
			require.Error(t, err)
		})
	}
	// The server logs after the client saw the failure: wait for it.
	for _, want := range []string{`msg="panic in connection" component=sshserver`, `msg="start sftp session"`} {
		require.Eventually(t, func() bool { return strings.Contains(h.logs.String(), want) }, 5*time.Second, 5*time.Millisecond, want)
	}
	// The server goes on serving.
	h.files.mu.Lock()
	h.files.fail = ""
	h.files.mu.Unlock()
	sc := h.sftpClient(t, "acme", ssh.Password("pw"))
	_, err := sc.Getwd()
	require.NoError(t, err)
}

func TestSessionsAndKill(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	key := newEd25519(t)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	h.auth.add(credentials.Account{Name: "acme", QuotaBytes: 42}, "pw", pub(t, key))
	require.Empty(t, h.srv.Sessions())

	before := time.Now()
	byKey := h.sftpClient(t, "acme", ssh.PublicKeys(signer))
	byPassword := h.sftpClient(t, "acme", ssh.Password("pw"))
	sessions := h.srv.Sessions()
	require.Len(t, sessions, 2)
	s := sessions[0]
	require.Equal(t, "acme", s.Account.Name)
	require.Equal(t, int64(42), s.Account.QuotaBytes)
	require.Equal(t, "publickey", s.Method)
	require.Equal(t, ssh.FingerprintSHA256(pub(t, key)), s.KeyFingerprint)
	require.Equal(t, "127.0.0.1", s.Remote.Addr().String())
	require.True(t, strings.HasPrefix(s.ClientVersion, "SSH-2.0-Go"), s.ClientVersion)
	require.False(t, s.Started.Before(before.Add(-time.Second)))
	require.Len(t, s.ID, 26)
	require.Equal(t, "password", sessions[1].Method)
	require.Empty(t, sessions[1].KeyFingerprint)

	require.False(t, h.srv.Kill("01ARZ3NDEKTSV4RRFFQ69G5FAV"))
	require.True(t, h.srv.Kill(s.ID))
	waitFor(t, "the killed session to end", func() bool {
		_, err := byKey.Getwd()
		return err != nil
	})
	_, err = byPassword.Getwd()
	require.NoError(t, err)
	waitFor(t, "Sessions to drop the killed one", func() bool { return len(h.srv.Sessions()) == 1 })
	require.Equal(t, sessions[1].ID, h.srv.Sessions()[0].ID)
}

func TestGracefulShutdown(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	uploading := h.sftpClient(t, "acme", ssh.Password("pw"))
	idle := h.sftpClient(t, "acme", ssh.Password("pw"))
	_, err := idle.Getwd()
	require.NoError(t, err)

	f, err := uploading.Create("/big.bin")
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte{7}, 64<<10)
	_, err = f.Write(chunk)
	require.NoError(t, err)

	h.cancel()
	// The idle session is closed at once; the upload goes on.
	waitFor(t, "the idle session to be closed", func() bool {
		_, err := idle.Getwd()
		return err != nil
	})
	select {
	case err := <-h.serveErr:
		t.Fatalf("Serve returned while an upload was in flight: %v", err)
	default:
	}
	for range 10 {
		_, err = f.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	select {
	case err := <-h.serveErr:
		require.NoError(t, err)
		h.serveErr <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return once the upload ended")
	}
	// The upload arrived whole; new connections are refused.
	req := sftp.NewRequest("Get", "/big.bin")
	req.Flags = 1 // SSH_FXF_READ
	r, err := h.files.handlers.FileGet.Fileread(req)
	require.NoError(t, err)
	got := make([]byte, 11*len(chunk)+1)
	n, _ := r.ReadAt(got, 0)
	require.Equal(t, 11*len(chunk), n)
	_, err = net.DialTimeout("tcp", h.addr, time.Second)
	require.Error(t, err)
}

func TestShutdownTimeoutCutsOffTransfers(t *testing.T) {
	h := startHarness(t, harnessOpts{cfg: func(c *sshserver.Config) { c.ShutdownTimeout = 300 * time.Millisecond }})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	sc := h.sftpClient(t, "acme", ssh.Password("pw"))
	f, err := sc.Create("/held-open")
	require.NoError(t, err)
	_, err = f.Write([]byte("partial"))
	require.NoError(t, err)
	id := h.srv.Sessions()[0].ID

	start := time.Now()
	err = h.stop(t)
	require.ErrorContains(t, err, "1 session(s) still transferring after 300ms were cut off: "+id)
	require.Less(t, time.Since(start), 3*time.Second)
	require.Error(t, f.Close())
}

func TestServeAfterCloseAndTwice(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	require.NotEmpty(t, h.probe(t), "the harness serves")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorContains(t, h.srv.Serve(t.Context(), ln), "Serve called twice")
	ln.Close()

	require.NoError(t, h.srv.Close())
	require.NoError(t, h.srv.Close())
	select {
	case err := <-h.serveErr:
		require.ErrorIs(t, err, sshserver.ErrServerClosed)
		h.serveErr <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestIdleTimeout(t *testing.T) {
	h := startHarness(t, harnessOpts{cfg: func(c *sshserver.Config) { c.IdleTimeout = time.Second }})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	c, err := h.dial("acme", ssh.Password("pw"))
	require.NoError(t, err)
	defer c.Close()
	sc, err := sftp.NewClient(c)
	require.NoError(t, err)
	// Traffic keeps it open...
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 15 { // 1.5 s of traffic, longer than the timeout
		<-tick.C
		_, err := sc.Getwd()
		require.NoError(t, err)
	}
	// ...silence closes it.
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection was not closed")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	h := startHarness(t, harnessOpts{cfg: func(c *sshserver.Config) { c.HandshakeTimeout = 300 * time.Millisecond }})
	c, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(c) // the version line, then EOF at the deadline
	require.NoError(t, err)
	require.Equal(t, "SSH-2.0-Sluice\r\n", string(got))
	require.Less(t, time.Since(start), 3*time.Second)
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
}

func TestBanner(t *testing.T) {
	h := startHarness(t, harnessOpts{cfg: func(c *sshserver.Config) { c.Banner = "Authorized use only" }})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	var got string
	c, err := h.dialConfig(&ssh.ClientConfig{User: "acme", Auth: []ssh.AuthMethod{ssh.Password("pw")},
		BannerCallback: func(m string) error { got = m; return nil }})
	require.NoError(t, err)
	c.Close()
	require.Equal(t, "Authorized use only\n", got)
}

func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*sshserver.Config)
	}{
		{"per host", func(c *sshserver.Config) { c.MaxConnectionsPerHost = 2 }},
		{"global", func(c *sshserver.Config) { c.MaxConnections = 2 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, harnessOpts{cfg: tc.cfg})
			var held []net.Conn
			for range 2 {
				c, err := net.Dial("tcp", h.addr)
				require.NoError(t, err)
				defer c.Close()
				held = append(held, c)
				buf := make([]byte, 16)
				_, err = io.ReadFull(c, buf[:8])
				require.NoError(t, err)
			}
			require.Empty(t, h.probe(t), "a third connection is dropped before the handshake")
			held[0].Close()
			waitFor(t, "a slot to free up", func() bool { return h.probe(t) != "" })
		})
	}
}

func TestSessionsPerAccount(t *testing.T) {
	h := startHarness(t, harnessOpts{cfg: func(c *sshserver.Config) { c.MaxSessionsPerAccount = 1 }})
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	h.auth.add(credentials.Account{Name: "other"}, "pw")
	first, err := h.dial("acme", ssh.Password("pw"))
	require.NoError(t, err)
	_, err = h.dial("acme", ssh.Password("pw"))
	require.Error(t, err)
	other, err := h.dial("other", ssh.Password("pw"))
	require.NoError(t, err)
	other.Close()
	first.Close()
	waitFor(t, "the slot to be given back", func() bool {
		c, err := h.dial("acme", ssh.Password("pw"))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	require.Equal(t, "denied:too-many-sessions", h.audit.results("acme")[1])
	require.False(t, h.def.Banned(netipLoopback), "a session limit is no failure")
}

// ExampleNew serves SFTP on a loopback port until the context ends. The
// Authenticator and HandlerProvider here are the test's fakes; cmd/sluice
// passes credentials.Service (through an adapter) and *sshserver.FS.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "sluice-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(key, "example")
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(hostKey, pem.EncodeToMemory(block), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	cfg := sshserver.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.HostKeys = []string{hostKey} // or leave empty and set HostKeyDir
	def, err := defender.New(defender.DefaultConfig(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := sshserver.New(cfg, newHarnessAuth(), newMemFiles(), def, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = srv.Serve(ctx, ln) // returns once ctx ends and the sessions have drained
	fmt.Println("stopped:", err)
	// Output: stopped: <nil>
}
