package sshserver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuotaEnforcedWhileWriting(t *testing.T) {
	tests := []struct {
		name                            string
		quotaBytes, quotaFiles, maxSize int64
		existing                        int // bytes already in the tree
		size                            int
		wantErr                         string
	}{
		{name: "bytes quota", quotaBytes: 1 << 20, size: 2 << 20, wantErr: msgQuotaExceeded},
		{name: "bytes quota with existing files", quotaBytes: 1 << 20, existing: 900 << 10, size: 200 << 10, wantErr: msgQuotaExceeded},
		{name: "fits exactly", quotaBytes: 1 << 20, existing: 512 << 10, size: 512 << 10},
		{name: "file size", maxSize: 100 << 10, size: 100<<10 + 1, wantErr: msgFileTooLarge},
		{name: "file size fits", maxSize: 100 << 10, size: 100 << 10},
		{name: "files quota", quotaFiles: 1, existing: 10, size: 10, wantErr: msgQuotaExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			home := tf.accountDir("acme")
			require.NoError(t, os.MkdirAll(filepath.Join(home, "old"), 0o700))
			if tc.existing > 0 {
				require.NoError(t, os.WriteFile(filepath.Join(home, "old", "f"), make([]byte, tc.existing), 0o600))
			}
			c := tf.connect(t, testSession("acme", tc.quotaBytes, tc.quotaFiles, tc.maxSize)).client
			err := put(t, c, "/x.bin", randomBytes(t, tc.size))
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Len(t, tf.sink.received(), 1)
				return
			}
			require.Error(t, err)
			require.Contains(t, statusMessage(t, err), tc.wantErr)
			require.Empty(t, tf.sink.received(), "nothing is recorded")
			_, err = c.Stat("/x.bin")
			require.ErrorIs(t, err, os.ErrNotExist)
			require.Empty(t, reservedFiles(t, home), "the space is given back")
		})
	}
}

func TestQuotaSharedAcrossSessions(t *testing.T) {
	tf := newTestFS(t)
	s := testSession("acme", 1<<20, 0, 0)
	c1 := tf.connect(t, s).client
	c2 := tf.connect(t, s).client

	// Two uploads in progress at once each take their share of the quota.
	f1, err := c1.Create("/a.bin")
	require.NoError(t, err)
	_, err = f1.Write(make([]byte, 600<<10))
	require.NoError(t, err)
	f2, err := c2.Create("/b.bin")
	require.NoError(t, err)
	_, err = f2.Write(make([]byte, 600<<10))
	require.Error(t, err)
	require.Contains(t, statusMessage(t, err), msgQuotaExceeded)
	require.NoError(t, f1.Close())
	require.Error(t, f2.Close())

	// Removing a file gives its bytes back.
	require.NoError(t, c2.Remove("/a.bin"))
	require.NoError(t, put(t, c1, "/c.bin", make([]byte, 1<<20)))
	// Replacing a file counts only the difference.
	require.NoError(t, put(t, c2, "/c.bin", make([]byte, 1<<20)))
	require.Len(t, tf.sink.received(), 3)
}

func TestUsageCountedOnce(t *testing.T) {
	tf := newTestFS(t)
	home := tf.accountDir("acme")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "a", "b"), 0o700))
	require.NoError(t, os.MkdirAll(filepath.Join(home, "reports"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, "a", "1"), make([]byte, 100), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(home, "a", "b", "2"), make([]byte, 200), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(home, "a", partialName("3")), make([]byte, 300), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(home, "reports", "r.json"), make([]byte, 5000), 0o600))

	s := testSession("acme", 1<<20, 100, 0)
	c := tf.connect(t, s)
	u := tf.fs.liveUsage("acme")
	require.NotNil(t, u)
	require.Equal(t, int64(600), u.bytes.Load(), "reports do not count; partial uploads do")
	require.Equal(t, int64(3), u.files.Load())

	require.NoError(t, put(t, c.client, "/a/1", make([]byte, 50)))
	require.Equal(t, int64(550), u.bytes.Load())
	require.Equal(t, int64(3), u.files.Load())
	require.NoError(t, c.client.Remove("/a/3"))
	require.Equal(t, int64(250), u.bytes.Load())
	require.Equal(t, int64(2), u.files.Load())

	c.kill(t)
	require.Nil(t, tf.fs.liveUsage("acme"), "dropped with the last session")
}
