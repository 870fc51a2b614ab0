package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
)

// syncBuffer is a bytes.Buffer safe for the server's log writes and the
// test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a `sluice serve` run in-process by the test.
type server struct {
	addr     string // admin API
	sftpAddr string // SFTP server
	dataDir  string
	logs     *syncBuffer
	stop     func()
}

var (
	listeningAddr     = regexp.MustCompile(`admin api listening"? addr=(\S+)`)
	sftpListeningAddr = regexp.MustCompile(`sftp server listening"? .*?addr=(\S+)`)
)

// startServer runs `sluice serve` with a fresh data dir and random admin
// and SFTP ports, and waits until the admin API answers and the SFTP server
// listens. env adds environment variables for the run.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	return restartServer(t, filepath.Join(t.TempDir(), "data"), env)
}

// restartServer is startServer on an existing data dir.
func restartServer(t *testing.T, dataDir string, env map[string]string) *server {
	t.Helper()
	t.Setenv("SLUICE_DATA_DIR", dataDir)
	t.Setenv("SLUICE_ADMIN_LISTEN", "127.0.0.1:0")
	t.Setenv("SLUICE_SFTP_LISTEN", "127.0.0.1:0")
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, io.Discard, logs) }()

	var addr, sftpAddr string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready:\n%s", logs.String())
		}
		m := listeningAddr.FindStringSubmatch(logs.String())
		sm := sftpListeningAddr.FindStringSubmatch(logs.String())
		if m == nil || sm == nil {
			continue
		}
		resp, err := http.Get("http://" + m[1] + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			addr, sftpAddr = m[1], sm[1]
			break
		}
	}

	s := &server{addr: addr, sftpAddr: sftpAddr, dataDir: dataDir, logs: logs}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop within 20s")
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// call sends one admin API request with a JSON body (nil for none) and
// returns the status and the body.
func (s *server) call(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+s.addr+path, r)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// buildSluice compiles the sluice binary once per test binary.
var buildSluice = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// TestREADMEExamples runs the README's admin API examples exactly as
// written, against a real server, with `go run ./cmd/sluice` standing for the
// built binary and the server's random port for 8080.
func TestREADMEExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "ssh-keygen", "gpg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by the README examples: %v", tool, err)
		}
	}
	bin, err := buildSluice()
	require.NoError(t, err)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	section := regexp.MustCompile(`(?s)<!-- readme-examples:start -->(.*)<!-- readme-examples:end -->`).FindSubmatch(readme)
	require.NotNil(t, section, "README has no readme-examples section")
	var script strings.Builder
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllSubmatch(section[1], -1) {
		script.Write(block[1])
	}
	require.Contains(t, script.String(), "token create")

	s := startServer(t, nil)
	text := strings.ReplaceAll(script.String(), "http://127.0.0.1:8080", "http://"+s.addr)
	text = strings.ReplaceAll(text, "go run ./cmd/sluice", bin)
	_, sftpPort, err := net.SplitHostPort(s.sftpAddr)
	require.NoError(t, err)
	text = strings.ReplaceAll(text, "sftp -P 2022 ", "sftp -P "+sftpPort+" ")
	// Fail on any HTTP error, keep the body for the message.
	prelude := "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; echo; }\n"
	work := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "bash", "-c", prelude+text)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "SLUICE_DATA_DIR="+s.dataDir, "HOME="+work)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "README examples failed:\n%s\nserver log:\n%s", out, s.logs.String())

	for _, want := range []string{`"name":"acme"`, `"type":"password"`, `"type":"ssh-public-key"`, `"fingerprint":"SHA256:`, `"type":"pgp-private-key"`} {
		require.Contains(t, string(out), want)
	}
	require.NotContains(t, string(out), "correct horse battery staple")
	require.FileExists(t, filepath.Join(s.dataDir, "home", "acme", "orders.csv"), "the SFTP upload landed")

	// The downloaded public key is one GnuPG can import and encrypt to.
	gpg := gnupgtest.New(t)
	gpg.Must(t, nil, "--import", filepath.Join(work, "acme.asc"))
	gpg.Must(t, nil, "--encrypt", "-r", "acme@sluice.invalid", "-o", filepath.Join(work, "x.gpg"), filepath.Join(work, "acme.asc"))
}
