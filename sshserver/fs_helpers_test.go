package sshserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

// fakeSink is an UploadSink that records what it receives.
type fakeSink struct {
	mu      sync.Mutex
	uploads []Upload
	err     error // returned by Received when set
}

func (s *fakeSink) Received(_ context.Context, u Upload) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	s.uploads = append(s.uploads, u)
	return "up-" + u.Path, nil
}

func (s *fakeSink) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSink) received() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// fakeFeeds is a FeedLookup over a fixed list of feeds.
type fakeFeeds struct {
	feeds []credentials.Feed
	err   error
}

func (f *fakeFeeds) Feeds(_ context.Context, account string) ([]credentials.Feed, error) {
	var out []credentials.Feed
	for _, fd := range f.feeds {
		if fd.Account == account {
			out = append(out, fd)
		}
	}
	return out, f.err
}

func (f *fakeFeeds) FeedFor(_ context.Context, account, p string) (credentials.Feed, bool, error) {
	if f.err != nil {
		return credentials.Feed{}, false, f.err
	}
	best := -1
	for i, fd := range f.feeds {
		if fd.Account != account || !(fd.Path == "/" || p == fd.Path || strings.HasPrefix(p, fd.Path+"/")) {
			continue
		}
		if best < 0 || len(fd.Path) > len(f.feeds[best].Path) {
			best = i
		}
	}
	if best < 0 {
		return credentials.Feed{}, false, nil
	}
	return f.feeds[best], true, nil
}

// testFS bundles an FS with its fakes and home folder.
type testFS struct {
	fs         *FS
	sink       *fakeSink
	feeds      *fakeFeeds
	home       string
	serverOpts []sftp.RequestServerOption // for connect
}

func newTestFS(t testing.TB, feeds ...credentials.Feed) *testFS {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	sink := &fakeSink{}
	lookup := &fakeFeeds{feeds: feeds}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f, err := NewFS(FSConfig{HomeDir: home, PartialRetention: time.Hour}, sink, lookup, logger)
	require.NoError(t, err)
	return &testFS{fs: f, sink: sink, feeds: lookup, home: home}
}

// accountDir returns the local folder of an account.
func (tf *testFS) accountDir(account string) string {
	return filepath.Join(tf.home, account)
}

func testSession(account string, quotaBytes, quotaFiles, maxFileSize int64) *Session {
	return &Session{
		ID:            "01TESTSESSION" + account,
		Account:       credentials.Account{Name: account, QuotaBytes: quotaBytes, QuotaFiles: quotaFiles, MaxFileSize: maxFileSize},
		Remote:        netip.MustParseAddrPort("192.0.2.7:50000"),
		ClientVersion: "SSH-2.0-test",
		Method:        "password",
		Started:       time.Now(),
	}
}

// pipeConn is one SFTP session served over an in-memory pipe.
type pipeConn struct {
	client *sftp.Client
	server net.Conn
	done   chan struct{}
}

// kill cuts the connection off as a network failure would and waits for
// the server side to finish.
func (c *pipeConn) kill(t *testing.T) {
	t.Helper()
	c.server.Close()
	<-c.done
}

// connect serves one session of tf over net.Pipe and returns a pkg/sftp
// client for it.
func (tf *testFS) connect(t *testing.T, s *Session, opts ...sftp.ClientOption) *pipeConn {
	t.Helper()
	handlers, end, err := tf.fs.Handlers(t.Context(), s)
	require.NoError(t, err)
	serverConn, clientConn := net.Pipe()
	server := sftp.NewRequestServer(serverConn, handlers, tf.serverOpts...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.Serve()
		end()
	}()
	client, err := sftp.NewClientPipe(clientConn, clientConn, opts...)
	require.NoError(t, err)
	c := &pipeConn{client: client, server: serverConn, done: done}
	t.Cleanup(func() {
		client.Close()
		serverConn.Close()
		<-done
	})
	return c
}

// randomBytes returns n random bytes.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// put writes data to name with the client, concurrently, and closes it.
func put(t *testing.T, c *sftp.Client, name string, data []byte) error {
	t.Helper()
	f, err := c.Create(name)
	if err != nil {
		return err
	}
	_, werr := f.ReadFrom(bytes.NewReader(data))
	cerr := f.Close()
	return errors.Join(werr, cerr)
}

// reservedFiles lists the files Sluice keeps for itself under dir.
func reservedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), reservedPrefix) {
			out = append(out, p)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// statusMessage returns the message of an SFTP status error. pkg/sftp's
// client turns the codes "no such file" and "permission denied" into
// os.ErrNotExist and os.ErrPermission and drops their messages.
func statusMessage(t *testing.T, err error) string {
	t.Helper()
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	var se *sftp.StatusError
	require.ErrorAs(t, err, &se)
	return se.Error()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newPutRequest returns the request pkg/sftp makes for an open with the
// write, create and truncate flags.
func newPutRequest(t *testing.T, p string) *sftp.Request {
	t.Helper()
	r := sftp.NewRequest("Put", p)
	r.Flags = 0x02 | 0x08 | 0x10 // SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC
	return r
}
