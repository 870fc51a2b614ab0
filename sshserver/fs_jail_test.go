package sshserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJail checks that no client path reaches outside the account's folder,
// including through symbolic links planted on disk.
func TestJail(t *testing.T) {
	tf := newTestFS(t)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	home := tf.accountDir("acme")
	require.NoError(t, os.Symlink(outside, filepath.Join(home, "outdir")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(home, "outfile")))
	require.NoError(t, os.Symlink("../../..", filepath.Join(home, "up")))
	require.NoError(t, os.MkdirAll(filepath.Join(home, "in"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, "in", "ok.csv"), []byte("ok"), 0o600))
	require.NoError(t, os.Symlink("in/ok.csv", filepath.Join(home, "inlink")))
	require.NoError(t, os.MkdirAll(filepath.Join(tf.home, "other"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(tf.home, "other", "theirs.csv"), []byte("theirs"), 0o600))

	tests := []struct {
		name    string
		run     func() error
		wantErr string // substring of the status message
	}{
		{name: "read outside through dir link", run: func() error { _, err := c.Open("/outdir/secret"); return err }, wantErr: "permission denied"},
		{name: "read outside through file link", run: func() error { _, err := c.Open("/outfile"); return err }, wantErr: "permission denied"},
		{name: "stat through link", run: func() error { _, err := c.Stat("/outfile"); return err }, wantErr: "permission denied"},
		{name: "list through link", run: func() error { _, err := c.ReadDir("/outdir"); return err }, wantErr: "permission denied"},
		{name: "list relative link", run: func() error { _, err := c.ReadDir("/up"); return err }, wantErr: "permission denied"},
		{name: "write through dir link", run: func() error { return put(t, c, "/outdir/planted", []byte("x")) }, wantErr: "permission denied"},
		{name: "mkdir through link", run: func() error { return c.Mkdir("/outdir/d") }, wantErr: "permission denied"},
		{name: "remove through link", run: func() error { return c.Remove("/outdir/secret") }, wantErr: "permission denied"},
		{name: "rename into link", run: func() error { return c.Rename("/in/ok.csv", "/outdir/ok.csv") }, wantErr: "permission denied"},
		{name: "readlink", run: func() error { _, err := c.ReadLink("/outfile"); return err }, wantErr: "permission denied"},
		{name: "symlink", run: func() error { return c.Symlink("/in/ok.csv", "/l") }, wantErr: "permission denied"},
		{name: "hard link", run: func() error { return c.Link("/in/ok.csv", "/l") }, wantErr: "permission denied"},
		{name: "absolute host path", run: func() error { _, err := c.Open("/etc/passwd"); return err }, wantErr: "no such file"},
		{name: "other account", run: func() error { _, err := c.Open("/../other/theirs.csv"); return err }, wantErr: "no such file"},
		{name: "control characters", run: func() error { return put(t, c, "/a\nb", []byte("x")) }, wantErr: "control characters"},
		{name: "long name", run: func() error { return put(t, c, "/"+strings.Repeat("n", 256), []byte("x")) }, wantErr: "longer than 255 bytes"},
		{name: "long path", run: func() error { _, err := c.Stat(strings.Repeat("/abcdefgh", 460)); return err }, wantErr: "longer than 4096 bytes"},
		{name: "reserved name", run: func() error { return put(t, c, "/.sluice-u.x", []byte("x")) }, wantErr: "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			require.Contains(t, statusMessage(t, err), tc.wantErr)
		})
	}

	t.Run("escape is reported as such", func(t *testing.T) {
		handlers, end, err := tf.fs.Handlers(t.Context(), testSession("acme", 0, 0, 0))
		require.NoError(t, err)
		defer end()
		_, err = handlers.FileList.(*handler).stat("/outdir/secret", true)
		require.EqualError(t, err, "permission denied: /outdir/secret leads outside your folder")
	})
	t.Run("dot dot stays inside", func(t *testing.T) {
		require.NoError(t, put(t, c, "../../x.csv", []byte("x")))
		_, err := os.Stat(filepath.Join(home, "x.csv"))
		require.NoError(t, err)
		wd, err := c.RealPath("../..")
		require.NoError(t, err)
		require.Equal(t, "/", wd)
	})
	t.Run("link inside the folder is followed", func(t *testing.T) {
		f, err := c.Open("/inlink")
		require.NoError(t, err)
		require.NoError(t, f.Close())
		info, err := c.Lstat("/inlink")
		require.NoError(t, err)
		require.Equal(t, os.ModeSymlink, info.Mode().Type())
	})
	t.Run("nothing was written outside", func(t *testing.T) {
		entries, err := os.ReadDir(outside)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		data, err := os.ReadFile(filepath.Join(outside, "secret"))
		require.NoError(t, err)
		require.Equal(t, "secret", string(data))
		entries, err = os.ReadDir(filepath.Join(tf.home, "other"))
		require.NoError(t, err)
		require.Len(t, entries, 1)
	})
}

func TestReportsReadOnly(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	report := filepath.Join(tf.accountDir("acme"), "reports", "x.csv.01J.json")
	require.NoError(t, os.WriteFile(report, []byte(`{"status":"ready"}`), 0o600))
	require.NoError(t, put(t, c, "/x.csv", []byte("x")))

	tests := []struct {
		name string
		run  func() error
	}{
		{name: "put", run: func() error { return put(t, c, "/reports/y.csv", []byte("y")) }},
		{name: "overwrite", run: func() error { return put(t, c, "/reports/x.csv.01J.json", []byte("y")) }},
		{name: "mkdir", run: func() error { return c.Mkdir("/reports/d") }},
		{name: "remove", run: func() error { return c.Remove("/reports/x.csv.01J.json") }},
		{name: "rmdir", run: func() error { return c.RemoveDirectory("/reports") }},
		{name: "rename out", run: func() error { return c.Rename("/reports/x.csv.01J.json", "/r.json") }},
		{name: "rename in", run: func() error { return c.Rename("/x.csv", "/reports/x.csv") }},
		{name: "rename reports", run: func() error { return c.Rename("/reports", "/r") }},
		{name: "chtimes", run: func() error { return c.Chmod("/reports/x.csv.01J.json", 0o600) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			require.Contains(t, statusMessage(t, err), "permission denied")
		})
	}

	f, err := c.Open("/reports/x.csv.01J.json")
	require.NoError(t, err)
	data := make([]byte, 64)
	n, _ := f.Read(data)
	require.Equal(t, `{"status":"ready"}`, string(data[:n]))
	require.NoError(t, f.Close())

	// /reports exists for the client even when it is missing on disk.
	require.NoError(t, os.RemoveAll(filepath.Join(tf.accountDir("acme"), "reports")))
	info, err := c.Stat("/reports")
	require.NoError(t, err)
	require.True(t, info.IsDir())
	entries, err := c.ReadDir("/reports")
	require.NoError(t, err)
	require.Empty(t, entries)
	root, err := c.ReadDir("/")
	require.NoError(t, err)
	require.Len(t, root, 2)
	require.Equal(t, "reports", root[0].Name())
	require.Len(t, tf.sink.received(), 1)
}
