package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// End-to-end tests of the SFTP server through the real `sluice serve`
// wiring: accounts made through the admin API, real clients (OpenSSH sftp,
// lftp, rclone, pkg/sftp, x/crypto/ssh), received events read from NATS.

const (
	// e2eBootstrap is the admin API token of the SFTP end-to-end tests.
	e2eBootstrap = "Kx4vN8qR2mT6wZ9cB3fH7jL1pD5gYsAeU"
	// e2ePassword is every test account's SFTP password.
	e2ePassword = "pw-E2e-Sluice-7731-kqZ"
)

// sftpServer is a running `sluice serve` whose SFTP port and embedded NATS
// the test reaches.
type sftpServer struct {
	*server
	port    string // SFTP port
	natsURL string // embedded NATS exposed on TCP, or the external server
}

// startSFTPServer runs `sluice serve` with the bootstrap token, the embedded
// NATS server exposed on a random loopback port (unless env names an
// external one in SLUICE_NATS_URL) and env. It runs no pipeline workers
// unless env sets SLUICE_PIPELINE_WORKERS: the SFTP tests look at uploads
// as received, before the pipeline archives them.
func startSFTPServer(t *testing.T, env map[string]string) *sftpServer {
	t.Helper()
	all := map[string]string{"SLUICE_BOOTSTRAP_TOKEN": e2eBootstrap, "SLUICE_PIPELINE_WORKERS": "0"}
	if env["SLUICE_NATS_URL"] == "" {
		all["SLUICE_NATS_LISTEN"] = "127.0.0.1:0"
	}
	for k, v := range env {
		all[k] = v
	}
	s := startServer(t, all)
	_, port, err := net.SplitHostPort(s.sftpAddr)
	require.NoError(t, err)
	url := env["SLUICE_NATS_URL"]
	if url == "" {
		m := natsListenAddr.FindStringSubmatch(s.logs.String())
		require.NotNil(t, m, "no embedded nats listen address in the log:\n%s", s.logs.String())
		url = "nats://" + m[1]
	}
	return &sftpServer{server: s, port: port, natsURL: url}
}

// account is an SFTP account made through the admin API, with a password
// and an ed25519 key.
type account struct {
	name     string
	password string
	keyPath  string     // OpenSSH private key file, 0600
	signer   ssh.Signer // the same key
	home     string     // its tree on disk
}

// newAccount creates account name with fields (quota_bytes, …) through the
// admin API and gives it a password and a key.
func (s *sftpServer) newAccount(t *testing.T, name string, fields map[string]any) account {
	t.Helper()
	body := map[string]any{"name": name}
	for k, v := range fields {
		body[k] = v
	}
	s.api(t, http.MethodPost, "/api/v1/accounts", body, http.StatusCreated)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	keyPath := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600))
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)

	creds := "/api/v1/accounts/" + name + "/credentials"
	s.api(t, http.MethodPost, creds, map[string]any{"name": "login", "type": "password", "password": e2ePassword}, http.StatusCreated)
	s.api(t, http.MethodPost, creds, map[string]any{
		"name": "key", "type": "ssh-public-key",
		"public_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@test",
	}, http.StatusCreated)
	return account{
		name: name, password: e2ePassword, keyPath: keyPath, signer: signer,
		home: filepath.Join(s.dataDir, "home", name),
	}
}

// api calls the admin API with the bootstrap token and requires status want.
func (s *sftpServer) api(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	code, out := s.call(t, e2eBootstrap, method, path, body)
	require.Equal(t, want, code, "%s %s: %s", method, path, out)
	return out
}

// auth selects how an OpenSSH client logs in.
type auth int

const (
	byKey auth = iota
	byPassword
)

// sftpCommand returns an OpenSSH `sftp -b -` running batch as a, in dir,
// in its own process group (so that a test can kill it with its ssh).
func (s *sftpServer) sftpCommand(t *testing.T, a account, how auth, dir, batch string, flags ...string) *exec.Cmd {
	t.Helper()
	home := t.TempDir()
	// Options before -b: sftp turns -b into "-oBatchMode yes", and the
	// first value of an ssh option wins.
	args := append([]string{"-F", "/dev/null", "-P", s.port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "IdentityAgent=none"}, flags...)
	env := append(os.Environ(), "HOME="+home)
	switch how {
	case byKey:
		args = append(args, "-i", a.keyPath, "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey")
	case byPassword:
		askpass := filepath.Join(home, "askpass")
		require.NoError(t, os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+a.password+"'\n"), 0o700))
		env = append(env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
		args = append(args, "-o", "BatchMode=no", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no")
	}
	args = append(args, "-b", "-", a.name+"@127.0.0.1")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hung transfer fails the test, not the run
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "sftp", args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(batch)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runSFTP runs batch with OpenSSH sftp as a, in dir, and returns its
// combined output.
func (s *sftpServer) runSFTP(t *testing.T, a account, how auth, dir, batch string) (string, error) {
	t.Helper()
	cmd := s.sftpCommand(t, a, how, dir, batch)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dialSSH opens an SSH connection to the server as user with the
// authentication methods given.
func (s *sftpServer) dialSSH(user string, methods ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", s.sftpAddr, &ssh.ClientConfig{
		User:            user,
		Auth:            methods,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

// sftpClient opens a pkg/sftp client logged in as a with its key; the test's
// cleanup closes it.
func (s *sftpServer) sftpClient(t *testing.T, a account) *sftp.Client {
	t.Helper()
	conn, err := s.dialSSH(a.name, ssh.PublicKeys(a.signer))
	require.NoError(t, err)
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c
}

// randomFile writes n random bytes to dir/name and returns their sha256.
func randomFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	data := make([]byte, n)
	_, err := rand.Read(data)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	return sha256Hex(data)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fileSHA256 returns the sha256 of the file at path.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256Hex(data)
}

// waitUntil polls cond every 20 ms until it holds, failing the test after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logLines counts the lines of the server's log that match pattern.
func (s *sftpServer) logLines(t *testing.T, pattern string) int {
	t.Helper()
	re := regexp.MustCompile(pattern)
	n := 0
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}
