package broker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestEnsureStreamIdempotent(t *testing.T) {
	b := startBroker(t, embeddedConfig(t, t.TempDir()))
	js := b.JetStream()
	cfg := testStream("idem")
	for range 3 {
		require.NoError(t, EnsureStream(t.Context(), js, cfg))
	}
	require.Equal(t, uint64(1), publishAndCount(t, js, "idem"))
	require.NoError(t, EnsureStream(t.Context(), js, cfg), "data survives a repeat")
	require.Equal(t, uint64(2), publishAndCount(t, js, "idem"))

	cfg.MaxAge = 2 * time.Hour
	require.NoError(t, EnsureStream(t.Context(), js, cfg), "a changed limit is an update")
	s, err := js.Stream(t.Context(), "idem")
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, info.Config.MaxAge)
	require.Equal(t, uint64(2), info.State.Msgs)
}

func TestEnsureStreamErrors(t *testing.T) {
	b := startBroker(t, embeddedConfig(t, t.TempDir()))
	require.NoError(t, EnsureStream(t.Context(), b.JetStream(), testStream("one")))

	tests := []struct {
		name string
		cfg  jetstream.StreamConfig
		want string
	}{
		{name: "storage cannot change", cfg: func() jetstream.StreamConfig {
			c := testStream("one")
			c.Storage = jetstream.MemoryStorage
			return c
		}(), want: "storage"},
		{name: "overlapping subjects", cfg: jetstream.StreamConfig{Name: "two", Subjects: []string{"test.one.>"}}, want: "overlap"},
		{name: "invalid name", cfg: jetstream.StreamConfig{Name: "a.b"}, want: "invalid stream name"},
		{name: "replicas without cluster", cfg: func() jetstream.StreamConfig {
			c := testStream("three")
			c.Replicas = 3
			return c
		}(), want: "replicas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			started := time.Now()
			err := EnsureStream(ctx, b.JetStream(), tc.cfg)
			require.NotErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorContains(t, err, tc.want)
			require.Less(t, time.Since(started), 2*time.Second, "a permanent error is not retried")
		})
	}
}

func TestEnsureStreamRetriesUntilContextEnds(t *testing.T) {
	// A server without JetStream never answers the API: EnsureStream keeps
	// trying and gives up only when ctx ends.
	srv := runServer(t, t.TempDir(), -1, false)
	b := startBroker(t, externalConfig(srv.ClientURL()))
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	err := EnsureStream(ctx, b.JetStream(), testStream("never"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, `ensure stream "never"`)
}
