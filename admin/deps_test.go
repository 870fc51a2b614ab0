package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/pipeline"
)

// The components the admin API runs on in sluice serve.
var (
	_ Uploads  = (*pipeline.Intake)(nil)
	_ Defender = (*defender.Defender)(nil)
)

// newOpsEnv is newTestEnv with every optional dependency: a real
// pipeline.Intake on the env's SQLite store, publishing to a real in-process
// nats-server with JetStream; a real defender.Defender (3 failures ban an
// address or lock an account); and a fake of the SFTP server's sessions.
func newOpsEnv(t *testing.T) *testEnv {
	t.Helper()
	js := startJetStream(t)
	return startEnv(t, nil, func(env *testEnv) Deps {
		cfg := pipeline.DefaultIntakeConfig()
		cfg.PublishTimeout = 5 * time.Second
		blobs, err := blob.Open(filepath.Join(env.dir, "blobs"))
		require.NoError(t, err)
		t.Cleanup(func() { blobs.Close() })
		in, err := pipeline.NewIntake(cfg, env.db, js, env.svc, blobs, env.logger)
		require.NoError(t, err)
		dcfg := defender.DefaultConfig()
		dcfg.MaxFailures, dcfg.AccountMaxFailures = 3, 3
		def, err := defender.New(dcfg, env.logger)
		require.NoError(t, err)
		env.intake, env.defender, env.sessions = in, def, &fakeSessions{}
		return Deps{Uploads: in, Defender: def, Sessions: env.sessions}
	})
}

// startJetStream starts a nats-server with JetStream in the test process on
// a loopback port, with its store in a temporary directory, and returns a
// JetStream context on a connection to it, with the events stream created.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server ready")
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateOrUpdateStream(t.Context(), pipeline.EventStreamConfig(pipeline.DefaultEventsConfig()))
	require.NoError(t, err)
	_, err = js.CreateOrUpdateStream(t.Context(), pipeline.TaskStreamConfig(pipeline.DefaultRunnerConfig()))
	require.NoError(t, err)
	return js
}

// receive records an upload of content at path p of account through the
// real intake, as the SFTP server does on close. The local file path it
// records is registered as a secret: no response may show it.
func (env *testEnv) receive(t *testing.T, account, p, content string) pipeline.Upload {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	file := filepath.Join(env.dir, "home", account, ".sluice-local"+p)
	env.c.v.secret(file)
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o700))
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	u, err := env.intake.Receive(t.Context(), pipeline.Upload{
		Account:       account,
		Path:          p,
		File:          file,
		Size:          int64(len(content)),
		SHA256:        hex.EncodeToString(sum[:]),
		SessionID:     "01JSESSION0000000000000000",
		Remote:        "192.0.2.7:50022",
		ClientVersion: "SSH-2.0-OpenSSH_9.2p1",
	})
	require.NoError(t, err)
	// Receive leaves publishing to the outbox publisher; sweep it out now.
	_, err = env.intake.Sweep(t.Context())
	require.NoError(t, err)
	u, err = env.intake.Upload(t.Context(), u.ID)
	require.NoError(t, err)
	require.NotNil(t, u.PublishedAt, "the received event was published")
	return u
}

// fakeSessions is a hand-written fake of Sessions. The SFTP server's real
// sessions are exercised end to end in cmd/sluice.
type fakeSessions struct {
	mu     sync.Mutex
	live   []Session
	killed []string
}

func (f *fakeSessions) add(s ...Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live = append(f.live, s...)
}

func (f *fakeSessions) Sessions() []Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.live)
}

func (f *fakeSessions) Kill(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.live, func(s Session) bool { return s.ID == id })
	if i < 0 {
		return false
	}
	f.live = slices.Delete(f.live, i, i+1)
	f.killed = append(f.killed, id)
	return true
}

// mustAddr parses an address of a test case.
func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	require.NoError(t, err)
	return a
}
