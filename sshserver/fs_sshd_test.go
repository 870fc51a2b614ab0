package sshserver

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// testSSHServer serves an FS over SSH on 127.0.0.1 without authentication,
// so that the OpenSSH sftp client can drive it. It stands in for the
// package's Server in tests of the file system alone.
type testSSHServer struct {
	port string
}

// sshServerOptions tune a testSSHServer.
type sshServerOptions struct {
	session  func() *Session // the session of each connection
	throttle int             // bytes per second read from the client; 0: no limit
}

func startSSHServer(t *testing.T, tf *testFS, opts sshServerOptions) *testSSHServer {
	t.Helper()
	signer, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	require.NoError(t, err)
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serveSSH(t, tf, cfg, c, opts) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return &testSSHServer{port: port}
}

func serveSSH(t *testing.T, tf *testFS, cfg *ssh.ServerConfig, c net.Conn, opts sshServerOptions) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Go(func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "subsystem" || len(req.Payload) < 4 || string(req.Payload[4:]) != "sftp" {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				go ssh.DiscardRequests(chReqs)
				s := opts.session()
				handlers, end, err := tf.fs.Handlers(context.Background(), s)
				if err != nil {
					t.Errorf("handlers: %v", err)
					return
				}
				var rwc io.ReadWriteCloser = ch
				if opts.throttle > 0 {
					rwc = &throttled{ReadWriteCloser: ch, rate: opts.throttle}
				}
				_ = sftp.NewRequestServer(rwc, handlers).Serve()
				end()
				return
			}
		})
	}
}

// throttled slows reads down to rate bytes per second, so that a test can
// cut a transfer off in the middle.
type throttled struct {
	io.ReadWriteCloser
	rate int
}

func (r *throttled) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	n, err := r.ReadWriteCloser.Read(p)
	time.Sleep(time.Duration(n) * time.Second / time.Duration(r.rate))
	return n, err
}

// openSSHArgs are the sftp client options for a testSSHServer.
func (s *testSSHServer) openSSHArgs() []string {
	return []string{
		"-F", "/dev/null", "-P", s.port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"acme@127.0.0.1",
	}
}

// requireOpenSSH skips the test when the OpenSSH sftp client is missing.
func requireOpenSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("OpenSSH sftp client not installed")
	}
}

// sftpCommand returns the OpenSSH sftp client running script in batch mode
// from the local folder dir, in a process group of its own.
func (s *testSSHServer) sftpCommand(t *testing.T, dir, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "sftp", append([]string{"-b", "-"}, s.openSSHArgs()...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// runSFTP runs script with the OpenSSH sftp client and returns its output
// and whether every command succeeded.
func (s *testSSHServer) runSFTP(t *testing.T, dir, script string) (string, error) {
	t.Helper()
	out, err := s.sftpCommand(t, dir, script).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	return string(out), err
}
