package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// testNATS is a real nats-server with JetStream running in the test process
// on a loopback port, which it keeps across restarts together with its store
// directory.
type testNATS struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

func startNATS(t testing.TB) *testNATS {
	t.Helper()
	n := &testNATS{t: t, dir: t.TempDir(), port: -1}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *testNATS) start() {
	n.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir, NoSigs: true, NoLog: true,
	})
	require.NoError(n.t, err)
	srv.Start()
	require.True(n.t, srv.ReadyForConnections(10*time.Second), "nats-server ready")
	n.srv = srv
}

// stop shuts the server down; it is idempotent.
func (n *testNATS) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// restart starts the server again on the same port and store directory.
func (n *testNATS) restart() {
	n.t.Helper()
	n.stop()
	n.start()
}

func (n *testNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// connect returns a JetStream context on a connection that reconnects
// forever and fails publishes at once while disconnected, as broker's does,
// after creating the events stream. opts override those defaults.
func (n *testNATS) connect(opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	n.t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectBufSize(-1)}, opts...)
	nc, err := nats.Connect(n.url(), opts...)
	require.NoError(n.t, err)
	n.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(n.t, err)
	_, err = js.CreateOrUpdateStream(n.t.Context(), EventStreamConfig(DefaultEventsConfig()))
	require.NoError(n.t, err)
	_, err = js.CreateOrUpdateStream(n.t.Context(), TaskStreamConfig(DefaultRunnerConfig()))
	require.NoError(n.t, err)
	return nc, js
}

// events returns every message in the events stream, in order.
func events(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	require.Len(t, out, int(info.State.Msgs))
	return out
}

// waitEvents waits until the events stream holds n messages and returns
// them; it fails the test when it holds more, or fewer after the deadline.
func waitEvents(t testing.TB, js jetstream.JetStream, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, EventsStream)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, err := s.Info(ctx)
		require.NoError(c, err)
		require.GreaterOrEqual(c, info.State.Msgs, uint64(n))
	}, 20*time.Second, 2*time.Millisecond, "%d events in the stream", n)
	msgs := events(t, js)
	require.Len(t, msgs, n, "no event more than expected")
	return msgs
}

// waitPublished waits until no upload is left in the outbox.
func waitPublished(t testing.TB, db *store.DB) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		require.NoError(c, db.QueryRowContext(t.Context(), `SELECT count(*) FROM uploads WHERE published_at IS NULL`).Scan(&n))
		require.Zero(c, n)
	}, 20*time.Second, 2*time.Millisecond, "every upload marked published")
}

// waitUpload polls upload id until ok accepts it and returns it.
func waitUpload(t testing.TB, in *Intake, id string, ok func(Upload) bool) Upload {
	t.Helper()
	var u Upload
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := in.Upload(t.Context(), id)
		require.NoError(c, err)
		require.True(c, ok(got), "upload %s: %+v", id, got)
		u = got
	}, 20*time.Second, 2*time.Millisecond)
	return u
}

// runPublisher runs in's publisher until the test ends, with an interval
// of an hour, so that whatever it publishes in a test it publishes because
// it was woken or kicked.
func runPublisher(t testing.TB, in *Intake) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.RunSweeper(ctx, time.Hour) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("RunSweeper did not return after cancel")
		}
	})
}

// databases returns the test backends: SQLite and, when a server answers,
// PostgreSQL (a fresh schema per Open).
func databases(t testing.TB) []storetest.Backend { return storetest.Backends(t) }

// feedTable is a hand-written FeedLookup: the longest folder prefix wins.
type feedTable struct {
	feeds []credentials.Feed
	err   error
}

func (f feedTable) FeedFor(_ context.Context, account, p string) (credentials.Feed, bool, error) {
	if f.err != nil {
		return credentials.Feed{}, false, f.err
	}
	best, ok := credentials.Feed{}, false
	for _, fd := range f.feeds {
		under := fd.Path == "/" || p == fd.Path || strings.HasPrefix(p, fd.Path+"/")
		if fd.Account == account && under && (!ok || len(fd.Path) > len(best.Path)) {
			best, ok = fd, true
		}
	}
	return best, ok, nil
}

var testFeeds = feedTable{feeds: []credentials.Feed{
	{Account: "acme", Name: "orders", Path: "/orders"},
	{Account: "acme", Name: "eu-orders", Path: "/orders/eu"},
	{Account: "globex", Name: "all", Path: "/"},
}}

func testIntakeConfig() IntakeConfig {
	cfg := DefaultIntakeConfig()
	cfg.Node = "test-node"
	cfg.PublishTimeout = 500 * time.Millisecond
	cfg.SweepBatch = 7 // small, so that sweeps cross batch boundaries
	return cfg
}

func newTestIntake(t testing.TB, db *store.DB, js jetstream.JetStream) *Intake {
	t.Helper()
	in, err := NewIntake(testIntakeConfig(), db, js, testFeeds, testBlobs(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
	require.NoError(t, err)
	return in
}

// testBlobs returns a blob store in a temporary folder.
func testBlobs(t testing.TB) *blob.Dir {
	t.Helper()
	b, err := blob.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// uploadsDir holds the files newUpload writes, as sshserver leaves them in
// the accounts' trees; TestMain removes it.
var uploadsDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-pipeline-test-")
	if err != nil {
		panic(err)
	}
	uploadsDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newUpload returns what sshserver hands to Receive for a file with the
// given content.
func newUpload(account, p, content string) Upload {
	sum := sha256.Sum256([]byte(content))
	file := filepath.Join(uploadsDir, account, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		panic(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		panic(err)
	}
	return Upload{
		Account:       account,
		Path:          p,
		File:          file,
		Size:          int64(len(content)),
		SHA256:        hex.EncodeToString(sum[:]),
		SessionID:     "01JSESSION0000000000000000",
		Remote:        "192.0.2.7:50022",
		ClientVersion: "SSH-2.0-OpenSSH_9.2p1",
		ReceivedAt:    time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600)),
	}
}

// unpublished returns the ids of uploads whose event is still in the outbox.
func unpublished(t testing.TB, db *store.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT id FROM uploads WHERE published_at IS NULL ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}
