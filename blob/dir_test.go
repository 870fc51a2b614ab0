package blob

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	ctx := t.Context()

	w, err := d.Create(ctx, "up/01J/out.csv")
	require.NoError(t, err)
	_, err = w.Write([]byte("a,b\n"))
	require.NoError(t, err)
	_, err = d.Open(ctx, "up/01J/out.csv")
	require.ErrorIs(t, err, fs.ErrNotExist, "invisible before commit")
	require.NoError(t, w.Commit())
	require.NoError(t, w.Commit(), "commit is idempotent")
	require.NoError(t, w.Abort(), "abort after commit is a no-op")

	r, err := d.Open(ctx, "up/01J/out.csv")
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	r.Close()
	require.Equal(t, "a,b\n", string(b))

	// A second write of the same key (a redelivery) replaces the first.
	w, err = d.Create(ctx, "up/01J/out.csv")
	require.NoError(t, err)
	_, err = w.Write([]byte("x\n"))
	require.NoError(t, err)
	require.NoError(t, w.Commit())
	r, err = d.Open(ctx, "up/01J/out.csv")
	require.NoError(t, err)
	b, _ = io.ReadAll(r)
	r.Close()
	require.Equal(t, "x\n", string(b))

	// Aborted writes leave nothing behind.
	w, err = d.Create(ctx, "up/01J/gone")
	require.NoError(t, err)
	_, _ = w.Write([]byte("zzz"))
	require.NoError(t, w.Abort())
	entries, err := os.ReadDir(filepath.Join(dir, "up", "01J"))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	require.NoError(t, d.Remove(ctx, "up/01J/out.csv"))
	require.NoError(t, d.Remove(ctx, "up/01J/out.csv"), "removing a missing blob is fine")
}

func TestDirRejectsBadKeys(t *testing.T) {
	d, err := Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(t.TempDir(), "x")))
	for _, key := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", "sp ace", "a/.tmp-x", "nul\x00"} {
		_, err := d.Create(t.Context(), key)
		require.ErrorContains(t, err, "invalid blob key", key)
		_, err = d.Open(t.Context(), key)
		require.ErrorContains(t, err, "invalid blob key", key)
	}
}

func TestDirDoesNotFollowPlantedSymlinks(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "evil")))
	d, err := Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	_, err = d.Create(t.Context(), "evil/x")
	require.Error(t, err)
	entries, _ := os.ReadDir(outside)
	require.Empty(t, entries)
}
