package sshserver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestJanitor(t *testing.T) {
	tf := newTestFS(t) // PartialRetention: 1h
	home := tf.accountDir("acme")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "d"), 0o700))
	old := time.Now().Add(-2 * time.Hour)
	write := func(rel string, mtime time.Time) string {
		p := filepath.Join(home, rel)
		require.NoError(t, os.WriteFile(p, make([]byte, 1000), 0o600))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
		return p
	}
	expired := write(filepath.Join("d", partialName("a.csv")), old)
	crashLeftover := write(tempName("b.csv"), old)
	fresh := write(filepath.Join("d", partialName("c.csv")), time.Now())
	customer := write("old.csv", old)

	// An upload being written, idle for longer than the retention, is kept.
	c := tf.connect(t, testSession("acme", 1<<20, 0, 0))
	f, err := c.client.Create("/d/e.csv")
	require.NoError(t, err)
	_, err = f.Write([]byte("in progress"))
	require.NoError(t, err)
	temps, err := filepath.Glob(filepath.Join(home, "d", tempPrefix+"*"))
	require.NoError(t, err)
	require.Len(t, temps, 1)
	require.NoError(t, os.Chtimes(temps[0], old, old))
	u := tf.fs.liveUsage("acme")
	before := u.bytes.Load()

	require.Equal(t, 2, tf.fs.sweep(t.Context(), time.Now()))
	for _, p := range []string{expired, crashLeftover} {
		_, err := os.Stat(p)
		require.ErrorIs(t, err, os.ErrNotExist, p)
	}
	for _, p := range []string{fresh, customer, temps[0]} {
		_, err := os.Stat(p)
		require.NoError(t, err, p)
	}
	require.Equal(t, before-2000, u.bytes.Load(), "the usage gives the space back")

	require.NoError(t, f.Close())
	require.Len(t, tf.sink.received(), 1)
}

func TestRunJanitorStops(t *testing.T) {
	tf := newTestFS(t)
	require.Error(t, tf.fs.RunJanitor(t.Context(), 0))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tf.fs.RunJanitor(ctx, time.Millisecond) }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("janitor did not stop")
	}
}
