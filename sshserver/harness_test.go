package sshserver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/sshserver"
)

// harness is a running server on 127.0.0.1:0 with fake credentials, an
// in-memory file system and a recording auditor.
type harness struct {
	srv      *sshserver.Server
	addr     string
	port     string
	auth     *harnessAuth
	audit    *harnessAudit
	files    *memFiles
	def      *defender.Defender
	logs     *testWriter
	cancel   context.CancelFunc
	serveErr chan error
}

type harnessOpts struct {
	cfg func(*sshserver.Config)
	def func(*defender.Config)
}

func startHarness(t *testing.T, opts harnessOpts) *harness {
	t.Helper()
	cfg := sshserver.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.HostKeys = []string{writeKey(t, t.TempDir(), "host_ed25519", newEd25519(t))}
	cfg.ShutdownTimeout = 5 * time.Second
	if opts.cfg != nil {
		opts.cfg(&cfg)
	}
	dcfg := defender.DefaultConfig()
	if opts.def != nil {
		opts.def(&dcfg)
	}
	logs := &testWriter{t: t}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	def, err := defender.New(dcfg, logger)
	require.NoError(t, err)
	h := &harness{auth: newHarnessAuth(), audit: &harnessAudit{}, files: newMemFiles(), def: def, logs: logs}
	h.srv, err = sshserver.New(cfg, h.auth, h.files, def, h.audit, logger)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", cfg.Listen)
	require.NoError(t, err)
	h.addr = ln.Addr().String()
	_, h.port, _ = net.SplitHostPort(h.addr)
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	h.serveErr = make(chan error, 1)
	go func() { h.serveErr <- h.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.serveErr:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		h.srv.Close()
	})
	return h
}

// stop cancels Serve and returns its result.
func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.serveErr:
		h.serveErr <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// testWriter sends log lines to t.Log and keeps them for the test to check.
type testWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	return len(p), nil
}

// String returns every line logged so far.
func (w *testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// harnessAuth is a hand-written Authenticator over a map of accounts.
type harnessAuth struct {
	mu       sync.Mutex
	accounts map[string]*harnessAccount
	used     []string
	broken   bool // every lookup fails as a broken database would
}

var errBroken = errors.New("database is down")

type harnessAccount struct {
	account     credentials.Account
	password    string
	keys        []ssh.PublicKey
	requireBoth bool
}

func newHarnessAuth() *harnessAuth { return &harnessAuth{accounts: map[string]*harnessAccount{}} }

func (a *harnessAuth) add(acct credentials.Account, password string, keys ...ssh.PublicKey) *harnessAccount {
	a.mu.Lock()
	defer a.mu.Unlock()
	ha := &harnessAccount{account: acct, password: password, keys: keys}
	a.accounts[acct.Name] = ha
	return ha
}

func (a *harnessAuth) update(name string, f func(*harnessAccount)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a.accounts[name])
}

func (a *harnessAuth) CheckPassword(_ context.Context, user, password string) (sshserver.Login, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken {
		return sshserver.Login{}, errBroken
	}
	ha, ok := a.accounts[user]
	if !ok || ha.password == "" || ha.password != password {
		return sshserver.Login{}, credentials.ErrUnauthenticated
	}
	return sshserver.Login{Account: ha.account, CredentialID: "pw-" + user, CredentialName: "login",
		RequireKeyAndPassword: ha.requireBoth}, nil
}

func (a *harnessAuth) FindKey(_ context.Context, user string, key ssh.PublicKey) (sshserver.Login, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken {
		return sshserver.Login{}, errBroken
	}
	ha, ok := a.accounts[user]
	if !ok {
		return sshserver.Login{}, credentials.ErrUnauthenticated
	}
	for i, k := range ha.keys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return sshserver.Login{Account: ha.account, CredentialID: fmt.Sprintf("key%d-%s", i, user),
				CredentialName: fmt.Sprintf("key%d", i), Fingerprint: ssh.FingerprintSHA256(key),
				RequireKeyAndPassword: ha.requireBoth}, nil
		}
	}
	return sshserver.Login{}, credentials.ErrUnauthenticated
}

func (a *harnessAuth) MarkUsed(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used = append(a.used, id)
	return nil
}

func (a *harnessAuth) usedIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.used)
}

// harnessAudit records audit events; block, when set, delays each write
// until the context ends.
type harnessAudit struct {
	mu     sync.Mutex
	events []credentials.AuditEvent
	block  bool
}

func (a *harnessAudit) RecordAudit(ctx context.Context, e credentials.AuditEvent) error {
	a.mu.Lock()
	block := a.block
	a.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

// results returns the Result of every event of actor, in order.
func (a *harnessAudit) results(actor string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		if e.Actor == actor {
			out = append(out, e.Result)
		}
	}
	return out
}

func (a *harnessAudit) all() []credentials.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

// memFiles is a HandlerProvider over one shared sftp.InMemHandler.
type memFiles struct {
	handlers sftp.Handlers
	mu       sync.Mutex
	started  []sshserver.Session
	ended    int
	fail     string // "panic" or "error": Handlers misbehaves that way
}

var errNoFiles = errors.New("file system unavailable")

func newMemFiles() *memFiles { return &memFiles{handlers: sftp.InMemHandler()} }

func (m *memFiles) Handlers(_ context.Context, s *sshserver.Session) (sftp.Handlers, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.fail {
	case "panic":
		panic("handler bug")
	case "error":
		return sftp.Handlers{}, nil, errNoFiles
	}
	m.started = append(m.started, *s)
	return m.handlers, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.ended++
	}, nil
}

func (m *memFiles) counts() (started, ended int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.started), m.ended
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

// writeKey writes k in OpenSSH format (0600) and returns the path.
func writeKey(t *testing.T, dir, name string, k any) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(k, "test")
	require.NoError(t, err)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(block), 0o600))
	return p
}

func pub(t *testing.T, k ed25519.PrivateKey) ssh.PublicKey {
	t.Helper()
	p, err := ssh.NewPublicKey(k.Public())
	require.NoError(t, err)
	return p
}

// dial logs in with the Go SSH client.
func (h *harness) dial(user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return h.dialConfig(&ssh.ClientConfig{User: user, Auth: auth})
}

func (h *harness) dialConfig(cc *ssh.ClientConfig) (*ssh.Client, error) {
	cc.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	cc.Timeout = 5 * time.Second
	return ssh.Dial("tcp", h.addr, cc)
}

// sftpClient logs in with the Go SSH client and starts pkg/sftp's client.
func (h *harness) sftpClient(t *testing.T, user string, auth ...ssh.AuthMethod) *sftp.Client {
	t.Helper()
	c, err := h.dial(user, auth...)
	require.NoError(t, err)
	sc, err := sftp.NewClient(c)
	require.NoError(t, err)
	t.Cleanup(func() { sc.Close(); c.Close() })
	return sc
}

// probe opens a TCP connection and reads what the server says first: its
// version line, or nothing when it drops the connection.
func (h *harness) probe(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var buf [64]byte
	n, _ := io.ReadAtLeast(c, buf[:], 8)
	return string(buf[:n])
}

// openSSH runs the OpenSSH sftp client in batch mode with the given batch
// commands. A non-empty password is given through SSH_ASKPASS; a non-empty
// keyPath is used for key authentication.
type openSSH struct {
	user, password, keyPath string
	extra                   []string // more -o options
}

func (h *harness) runSFTP(t *testing.T, o openSSH, batch string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	// Options before -b: sftp turns -b into "-oBatchMode yes", and the
	// first value of an ssh option wins.
	args := []string{"-F", "/dev/null", "-P", h.port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes"}
	env := append(os.Environ(), "HOME="+dir)
	switch {
	case o.keyPath != "" && o.password != "":
		args = append(args, "-i", o.keyPath, "-o", "BatchMode=no", "-o", "PreferredAuthentications=publickey,password")
	case o.keyPath != "":
		args = append(args, "-i", o.keyPath, "-o", "BatchMode=yes")
	case o.password != "":
		args = append(args, "-o", "BatchMode=no", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no")
	default:
		args = append(args, "-o", "BatchMode=yes")
	}
	if o.password != "" {
		askpass := filepath.Join(dir, "askpass")
		require.NoError(t, os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+o.password+"'\n"), 0o700))
		env = append(env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	}
	for _, e := range o.extra {
		args = append(args, "-o", e)
	}
	args = append(args, "-b", "-", o.user+"@127.0.0.1")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sftp", args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(batch)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, what)
}

func requireOpenSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("OpenSSH sftp client not installed")
	}
}
