package blob

import (
	"fmt"
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

func TestDirImportFile(t *testing.T) {
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "received.csv")
	require.NoError(t, os.WriteFile(src, []byte("id\n1\n"), 0o600))
	srcInfo, err := os.Stat(src)
	require.NoError(t, err)

	tests := []struct {
		name    string
		prepare func(t *testing.T, d *Dir) // before the second import
		key     string
	}{
		{name: "flat key", key: "top"},
		{name: "folder made once", key: "uploads/01A"},
		{name: "folder removed since", key: "uploads/01A", prepare: func(t *testing.T, d *Dir) {
			require.NoError(t, os.RemoveAll(filepath.Join(d.Path(), "uploads")))
		}},
		{name: "nested folders", key: "a/b/c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { d.Close() })
			require.NoError(t, d.ImportFile(ctx, tc.key, src))
			if tc.prepare != nil {
				tc.prepare(t, d)
			}
			second := tc.key + "-2"
			require.NoError(t, d.ImportFile(ctx, second, src))
			for _, key := range []string{second, tc.key} {
				if tc.prepare != nil && key == tc.key {
					continue
				}
				info, err := os.Stat(filepath.Join(d.Path(), filepath.FromSlash(key)))
				require.NoError(t, err, key)
				require.True(t, os.SameFile(srcInfo, info), "%s is a link, not a copy", key)
				same, err := d.SameFile(ctx, key, src)
				require.NoError(t, err)
				require.True(t, same)
			}
		})
	}

	t.Run("replaces another blob", func(t *testing.T) {
		d, err := Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		w, err := d.Create(ctx, "uploads/01B")
		require.NoError(t, err)
		_, err = w.Write([]byte("old"))
		require.NoError(t, err)
		require.NoError(t, w.Commit())
		require.NoError(t, d.ImportFile(ctx, "uploads/01B", src))
		require.NoError(t, d.ImportFile(ctx, "uploads/01B", src), "importing the same file again is fine")
		r, err := d.Open(ctx, "uploads/01B")
		require.NoError(t, err)
		b, _ := io.ReadAll(r)
		r.Close()
		require.Equal(t, "id\n1\n", string(b))
	})
	t.Run("missing file", func(t *testing.T) {
		d, err := Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		err = d.ImportFile(ctx, "uploads/01C", filepath.Join(t.TempDir(), "gone"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = d.Open(ctx, "uploads/01C")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("planted link as folder", func(t *testing.T) {
		dir, outside := t.TempDir(), t.TempDir()
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "uploads")))
		d, err := Open(dir)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		require.Error(t, d.ImportFile(ctx, "uploads/01D", src))
		entries, _ := os.ReadDir(outside)
		require.Empty(t, entries)
	})
	t.Run("remembers a bounded number of folders", func(t *testing.T) {
		d, err := Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		for i := range maxFolders + 10 {
			require.NoError(t, d.ImportFile(ctx, fmt.Sprintf("f%03d/upload", i), src))
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		require.Len(t, d.folders, maxFolders)
	})
}
