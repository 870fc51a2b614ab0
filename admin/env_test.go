package admin

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/store"
	"github.com/stretchr/testify/require"
)

// *credentials.Service is the Service the admin API runs on.
var _ Service = (*credentials.Service)(nil)

// testEnv is an admin API over the real credentials.Service on a SQLite
// file in a temporary directory, with a client authenticated by the global
// api-token "root".
type testEnv struct {
	svc    *credentials.Service
	db     *store.DB
	dir    string // the data directory
	c      *apiClient
	logs   *syncBuffer
	logger *slog.Logger

	// The optional dependencies, set by newOpsEnv.
	intake   *pipeline.Intake
	defender *defender.Defender
	sessions *fakeSessions
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
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

// newTestEnv starts an admin API with cfg (DefaultConfig when nil) over a
// fresh store, without the optional dependencies. At the end of the test it
// checks that no secret the client was told about reached the log.
func newTestEnv(t *testing.T, cfg *Config) *testEnv {
	t.Helper()
	return startEnv(t, cfg, nil)
}

// startEnv is newTestEnv; when deps is not nil it is called once the store
// and the service exist, to set the optional dependencies on env and return
// them.
func startEnv(t *testing.T, cfg *Config, deps func(env *testEnv) Deps) *testEnv {
	t.Helper()
	dir := t.TempDir()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	db, err := store.Open(t.Context(), store.Config{Driver: store.SQLite}, dir, logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	keys, _, err := credentials.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"))
	require.NoError(t, err)
	vault, err := credentials.NewVault(keys[0], keys[1:]...)
	require.NoError(t, err)
	svc, err := credentials.NewService(credentials.Config{
		Argon2:              credentials.DefaultArgon2,
		MaxConcurrentHashes: 2,
		HomeDir:             filepath.Join(dir, "home"),
	}, credentials.NewStore(db), vault, logger)
	require.NoError(t, err)
	token, _, err := svc.CreateAPIToken(t.Context(), "root", "test admin")
	require.NoError(t, err)

	if cfg == nil {
		d := DefaultConfig()
		cfg = &d
	}
	env := &testEnv{svc: svc, db: db, dir: dir, logs: logs, logger: logger}
	d := Deps{}
	if deps != nil {
		d = deps(env)
	}
	d.Service = svc
	s, err := New(*cfg, d, logger)
	require.NoError(t, err)
	c := newAPIClient(t, s)
	c.token = string(token)
	c.v.secret(string(token))
	env.c = c
	t.Cleanup(func() {
		out := logs.String()
		for _, s := range c.v.secretList() {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("the log contains a secret")
			}
		}
	})
	return env
}
