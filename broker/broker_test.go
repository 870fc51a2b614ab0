package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func embeddedConfig(t *testing.T, dir string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StoreDir = dir
	return cfg
}

func startBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	b, err := Start(t.Context(), cfg, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func testStream(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{"test." + name + ".>"},
		Storage:  jetstream.FileStorage,
		MaxAge:   time.Hour,
	}
}

// publishAndCount publishes one message to the stream and returns the number
// of messages it holds afterwards.
func publishAndCount(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, "test."+stream+".x", []byte("hello"))
	require.NoError(t, err)
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

func TestEmbeddedStartStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	b := startBroker(t, embeddedConfig(t, dir))
	require.True(t, b.Embedded())
	require.Nil(t, b.Addr(), "in-process only: no listener")
	require.Empty(t, b.ClientURL())
	require.True(t, b.Conn().IsConnected())

	require.NoError(t, EnsureStream(t.Context(), b.JetStream(), testStream("a")))
	require.Equal(t, uint64(1), publishAndCount(t, b.JetStream(), "a"))
	_, err := os.Stat(filepath.Join(dir, "jetstream"))
	require.NoError(t, err, "the JetStream store lives under the store dir")

	b.Close()
	b.Close() // idempotent
	require.True(t, b.Conn().IsClosed())
}

func TestEmbeddedRestartKeepsStreamData(t *testing.T) {
	dir := t.TempDir()
	for round := 1; round <= 3; round++ {
		b, err := Start(t.Context(), embeddedConfig(t, dir), testLogger(t))
		require.NoError(t, err)
		require.NoError(t, EnsureStream(t.Context(), b.JetStream(), testStream("keep")))
		require.Equal(t, uint64(round), publishAndCount(t, b.JetStream(), "keep"))
		b.Close()
	}
}

func TestEmbeddedListen(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cret-token-for-importers\n"), 0o600))

	tests := []struct {
		name      string
		tokenFile string
		token     string
	}{
		{name: "open", tokenFile: "", token: ""},
		{name: "token", tokenFile: tokenFile, token: "s3cret-token-for-importers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := embeddedConfig(t, t.TempDir())
			cfg.Listen = "127.0.0.1:0"
			cfg.TokenFile = tc.tokenFile
			b := startBroker(t, cfg)
			require.NotNil(t, b.Addr())
			require.NotEqual(t, 0, b.Addr().(*net.TCPAddr).Port)
			require.NoError(t, EnsureStream(t.Context(), b.JetStream(), testStream("l")))

			if tc.token != "" {
				_, err := nats.Connect(b.ClientURL())
				require.Error(t, err, "a client without the token is refused")
				_, err = nats.Connect(b.ClientURL(), nats.Token("wrong"))
				require.Error(t, err)
			}
			opts := []nats.Option{}
			if tc.token != "" {
				opts = append(opts, nats.Token(tc.token))
			}
			nc, err := nats.Connect(b.ClientURL(), opts...)
			require.NoError(t, err)
			defer nc.Close()
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			require.Equal(t, uint64(1), publishAndCount(t, js, "l"), "a TCP client reaches the embedded JetStream")
			require.Equal(t, uint64(2), publishAndCount(t, b.JetStream(), "l"), "and sees the in-process client's stream")
		})
	}
}

// runServer starts a real nats-server with JetStream in the test process,
// on a random port (or port when not -1) with its store in dir.
func runServer(t *testing.T, dir string, port int, jetStream bool) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: jetStream,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	})
	require.NoError(t, err)
	srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func serverPort(t *testing.T, srv *server.Server) int {
	t.Helper()
	return srv.Addr().(*net.TCPAddr).Port
}

func externalConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.URL = url
	cfg.ReconnectWait = 50 * time.Millisecond
	return cfg
}

func TestExternal(t *testing.T) {
	dir := t.TempDir()
	srv := runServer(t, dir, -1, true)
	port := serverPort(t, srv)

	// A list with a dead server first: the client moves on to the live one.
	dead := freePort(t)
	cfg := externalConfig(fmt.Sprintf("nats://127.0.0.1:%d, %s", dead, srv.ClientURL()))
	b := startBroker(t, cfg)
	require.False(t, b.Embedded())
	require.Nil(t, b.Addr())
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })

	require.Eventually(t, b.Conn().IsConnected, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, EnsureStream(t.Context(), b.JetStream(), testStream("ext")))
	require.Equal(t, uint64(1), publishAndCount(t, b.JetStream(), "ext"))

	// The server goes away: publishing fails fast instead of buffering.
	srv.Shutdown()
	srv.WaitForShutdown()
	require.Eventually(t, func() bool { return !b.Conn().IsConnected() }, 10*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	started := time.Now()
	_, err := b.JetStream().Publish(ctx, "test.ext.x", []byte("lost?"))
	require.Error(t, err)
	require.Less(t, time.Since(started), time.Second, "a publish while disconnected fails at once")

	// It comes back on the same port and store: the broker reconnects.
	runServer(t, dir, port, true)
	require.Eventually(t, func() bool { return reconnects.Load() > 0 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, uint64(2), publishAndCount(t, b.JetStream(), "ext"))
}

func TestExternalNotReachableYet(t *testing.T) {
	port := freePort(t)
	b := startBroker(t, externalConfig("nats://127.0.0.1:"+strconv.Itoa(port)))
	require.False(t, b.Conn().IsConnected(), "start does not wait for an external server")

	runServer(t, t.TempDir(), port, true)
	require.Eventually(t, b.Conn().IsConnected, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, EnsureStream(t.Context(), b.JetStream(), testStream("late")))
}

func TestCloseWithExternalDown(t *testing.T) {
	b := startBroker(t, externalConfig("nats://127.0.0.1:"+strconv.Itoa(freePort(t))))
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked while reconnecting")
	}
}

// freePort returns a TCP port nothing listens on (for a moment).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
