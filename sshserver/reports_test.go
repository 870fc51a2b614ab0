package sshserver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

func TestReports(t *testing.T) {
	home := t.TempDir()
	r := Reports{HomeDir: home}
	require.NoError(t, r.WriteReport(t.Context(), "acme", "x.csv.01ID.json", []byte(`{"status":"ready"}`)))
	require.NoError(t, r.WriteReport(t.Context(), "acme", "x.csv.01ID.json", []byte(`{"status":"rejected"}`)))
	b, err := os.ReadFile(filepath.Join(home, "acme", "reports", "x.csv.01ID.json"))
	require.NoError(t, err)
	require.Equal(t, `{"status":"rejected"}`, string(b), "replaced")

	for _, tc := range []struct{ name, account, file string }{
		{"traversal in the name", "acme", "../x.json"},
		{"reserved name", "acme", ".sluice-u.x"},
		{"traversal in the account", "..", "x.json"},
		{"control character", "acme", "x\n.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, r.WriteReport(t.Context(), tc.account, tc.file, []byte("x")))
		})
	}

	// A writer that died left its temporary file: unlocked, it goes.
	stale := filepath.Join(home, "acme", "reports", reportTempPrefix+"deadbeef")
	require.NoError(t, os.WriteFile(stale, []byte("half"), 0o600))
	n, err := r.RemoveStale(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = os.Stat(stale)
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, r.RemoveReport(t.Context(), "acme", "x.csv.01ID.json"))
	require.NoError(t, r.RemoveReport(t.Context(), "acme", "x.csv.01ID.json"), "missing is fine")
	entries, err := os.ReadDir(filepath.Join(home, "acme", "reports"))
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestSessionCreatesFeedFolders(t *testing.T) {
	// A feed made through another node's admin API has no folder here yet:
	// the session creates it.
	tf := newTestFS(t, credentials.Feed{Account: "acme", Name: "eu", Path: "/orders/eu"},
		credentials.Feed{Account: "acme", Name: "root", Path: "/"},
		credentials.Feed{Account: "globex", Name: "x", Path: "/x"})
	c := tf.connect(t, testSession("acme", 0, 0, 0))
	defer c.kill(t)
	fi, err := c.client.Stat("/orders/eu")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	_, err = os.Stat(filepath.Join(tf.home, "globex"))
	require.ErrorIs(t, err, os.ErrNotExist, "another account's feeds are not this session's business")
}
