package sshserver

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

func TestTemporaryNames(t *testing.T) {
	tests := []struct {
		name    string
		steps   func(t *testing.T, tf *testFS, c *pipeConn, data []byte)
		wantRcv []string // paths handed on, in order
		final   string   // where data ends up, if not at the last path handed on
	}{
		{
			name: "filepart renamed",
			steps: func(t *testing.T, _ *testFS, c *pipeConn, data []byte) {
				require.NoError(t, put(t, c.client, "/x.csv.filepart", data))
				require.NoError(t, c.client.Rename("/x.csv.filepart", "/x.csv"))
			},
			wantRcv: []string{"/x.csv"},
		},
		{
			name: "posix rename replaces",
			steps: func(t *testing.T, _ *testFS, c *pipeConn, data []byte) {
				require.NoError(t, put(t, c.client, "/x.csv", []byte("old")))
				require.NoError(t, put(t, c.client, "/x.csv.part", data))
				require.NoError(t, c.client.PosixRename("/x.csv.part", "/x.csv"))
			},
			wantRcv: []string{"/x.csv", "/x.csv"},
		},
		{
			name: "temp to temp to final",
			steps: func(t *testing.T, _ *testFS, c *pipeConn, data []byte) {
				require.NoError(t, put(t, c.client, "/a.tmp", data))
				require.NoError(t, c.client.Rename("/a.tmp", "/b.partial"))
				require.NoError(t, c.client.Rename("/b.partial", "/b.csv"))
			},
			wantRcv: []string{"/b.csv"},
		},
		{
			name: "hashed from disk after a restart",
			steps: func(t *testing.T, tf *testFS, c *pipeConn, data []byte) {
				require.NoError(t, put(t, c.client, "/.~x.csv", data))
				tf.fs.sums = make(map[string]cachedSum) // as after a restart
				require.NoError(t, c.client.Rename("/.~x.csv", "/x.csv"))
			},
			wantRcv: []string{"/x.csv"},
		},
		{
			name: "final renamed to final",
			steps: func(t *testing.T, _ *testFS, c *pipeConn, data []byte) {
				require.NoError(t, put(t, c.client, "/x.csv", data))
				require.NoError(t, c.client.Rename("/x.csv", "/y.csv"))
			},
			wantRcv: []string{"/x.csv"},
			final:   "/y.csv",
		},
		{
			name: "temp never renamed",
			steps: func(t *testing.T, _ *testFS, c *pipeConn, data []byte) {
				require.NoError(t, put(t, c.client, "/x.filepart", data))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			c := tf.connect(t, testSession("acme", 0, 0, 0))
			data := randomBytes(t, 1<<20+5)
			tc.steps(t, tf, c, data)
			got := tf.sink.received()
			var paths []string
			for _, u := range got {
				paths = append(paths, u.Path)
			}
			require.Equal(t, tc.wantRcv, paths)
			if len(got) > 0 {
				last := got[len(got)-1]
				require.Equal(t, sha256Hex(data), last.SHA256)
				require.Equal(t, int64(len(data)), last.Size)
				file := last.File
				if tc.final != "" {
					file = filepath.Join(tf.accountDir("acme"), tc.final)
				}
				onDisk, err := os.ReadFile(file)
				require.NoError(t, err)
				require.True(t, bytes.Equal(data, onDisk))
			}
		})
	}
}

func TestRequireEncryption(t *testing.T) {
	secure := credentials.Feed{Account: "acme", Name: "secure", Path: "/secure", RequireEncryption: true}
	plainFeed := credentials.Feed{Account: "acme", Name: "default", Path: "/"}
	tests := []struct {
		name    string
		path    string
		content []byte
		wantErr bool
	}{
		{name: "plain csv refused", path: "/secure/x.csv", content: []byte("id,email\n1,a@b.c\n"), wantErr: true},
		{name: "empty refused", path: "/secure/x.csv", content: nil, wantErr: true},
		{name: "zip accepted", path: "/secure/x.zip", content: append([]byte("PK\x03\x04"), make([]byte, 100)...)},
		{name: "binary pgp accepted", path: "/secure/sub/x.gpg", content: append([]byte{0x85, 0x01, 0x0c, 0x03}, make([]byte, 100)...)},
		{name: "armored pgp accepted", path: "/secure/x.asc", content: []byte("-----BEGIN PGP MESSAGE-----\n\nhQEMA...\n")},
		{name: "plain elsewhere accepted", path: "/open.csv", content: []byte("id\n1\n")},
		{name: "prefix is not a folder", path: "/secure-not/x.csv", content: []byte("id\n1\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t, secure, plainFeed)
			c := tf.connect(t, testSession("acme", 0, 0, 0)).client
			require.NoError(t, c.MkdirAll(filepath.Dir(tc.path)))
			err := put(t, c, tc.path, tc.content)
			if !tc.wantErr {
				require.NoError(t, err)
				require.Len(t, tf.sink.received(), 1)
				return
			}
			require.Contains(t, statusMessage(t, err), msgEncryptionRequired)
			require.Empty(t, tf.sink.received())
			_, err = c.Stat(tc.path)
			require.ErrorIs(t, err, os.ErrNotExist, "the file is not accepted")
			require.Empty(t, reservedFiles(t, tf.accountDir("acme")))
		})
	}

	t.Run("temporary name renamed into the folder", func(t *testing.T) {
		tf := newTestFS(t, secure)
		c := tf.connect(t, testSession("acme", 0, 0, 0)).client
		require.NoError(t, c.MkdirAll("/secure")) // the session made the feed's folder
		require.NoError(t, put(t, c, "/secure/x.csv.filepart", []byte("id\n1\n")), "temporary names are checked at rename")
		err := c.Rename("/secure/x.csv.filepart", "/secure/x.csv")
		require.Contains(t, statusMessage(t, err), msgEncryptionRequired)
		require.Empty(t, tf.sink.received())
		entries, err := os.ReadDir(filepath.Join(tf.accountDir("acme"), "secure"))
		require.NoError(t, err)
		require.Empty(t, entries)
	})

	t.Run("feed lookup failure keeps the file for resume", func(t *testing.T) {
		tf := newTestFS(t)
		tf.feeds.err = errors.New("database down")
		c := tf.connect(t, testSession("acme", 0, 0, 0)).client
		err := put(t, c, "/x.csv", []byte("id\n1\n"))
		require.Contains(t, statusMessage(t, err), "could not check /x.csv")
		require.Empty(t, tf.sink.received())
		info, err := c.Stat("/x.csv")
		require.NoError(t, err)
		require.Equal(t, int64(5), info.Size())
	})
}

// TestCutOffAndResume cuts a connection off in the middle of an upload,
// then resumes it from another session the way reput does: stat the name,
// open it without truncating, write from the size seen.
func TestCutOffAndResume(t *testing.T) {
	tests := []struct {
		name  string
		flags int
	}{
		{name: "append flag", flags: os.O_WRONLY | os.O_CREATE | os.O_APPEND},
		{name: "write flag", flags: os.O_WRONLY},
		{name: "read write", flags: os.O_RDWR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			data := randomBytes(t, 3<<20)
			cut := int64(1<<20 + 17)

			c1 := tf.connect(t, testSession("acme", 0, 0, 0))
			require.NoError(t, put(t, c1.client, "/x.csv", []byte("previous version")))
			f, err := c1.client.Create("/x.csv")
			require.NoError(t, err)
			_, err = f.Write(data[:cut])
			require.NoError(t, err)
			c1.kill(t)
			require.Len(t, tf.sink.received(), 1, "a cut-off transfer is never handed on")

			c2 := tf.connect(t, testSession("acme", 0, 0, 0))
			info, err := c2.client.Stat("/x.csv")
			require.NoError(t, err)
			require.Equal(t, cut, info.Size(), "stat shows the partial upload's size")
			entries, err := c2.client.ReadDir("/")
			require.NoError(t, err)
			require.Equal(t, "x.csv", entries[1].Name())
			require.Equal(t, cut, entries[1].Size())
			old, err := os.ReadFile(filepath.Join(tf.accountDir("acme"), "x.csv"))
			require.NoError(t, err)
			require.Equal(t, "previous version", string(old), "the received version stays until the new one is complete")

			f, err = c2.client.OpenFile("/x.csv", tc.flags)
			require.NoError(t, err)
			st, err := f.Stat()
			require.NoError(t, err)
			require.Equal(t, cut, st.Size(), "fstat of the open handle shows the partial size")
			_, err = f.WriteAt(data[cut:], cut)
			require.NoError(t, err)
			require.NoError(t, f.Close())

			got := tf.sink.received()
			require.Len(t, got, 2)
			require.Equal(t, int64(len(data)), got[1].Size)
			require.Equal(t, sha256Hex(data), got[1].SHA256)
			require.Empty(t, reservedFiles(t, tf.accountDir("acme")))
		})
	}
}

func TestSessionEndCutsOffOpenUploads(t *testing.T) {
	tf := newTestFS(t)
	handlers, end, err := tf.fs.Handlers(t.Context(), testSession("acme", 0, 0, 0))
	require.NoError(t, err)
	h := handlers.FilePut.(*handler)
	w, err := h.openWrite(newPutRequest(t, "/x.csv"))
	require.NoError(t, err)
	_, err = w.WriteAt([]byte("abc"), 0)
	require.NoError(t, err)

	end()
	_, err = w.WriteAt([]byte("def"), 3)
	require.ErrorIs(t, err, errTransferAborted)
	require.ErrorIs(t, w.Close(), errTransferAborted)
	require.Empty(t, tf.sink.received())
	data, err := os.ReadFile(filepath.Join(tf.accountDir("acme"), partialName("x.csv")))
	require.NoError(t, err)
	require.Equal(t, "abc", string(data))
	end() // idempotent
}

func TestCutOffEmptyUploadLeavesNothing(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0))
	_, err := c.client.Create("/x.csv")
	require.NoError(t, err)
	c.kill(t)
	require.Empty(t, reservedFiles(t, tf.accountDir("acme")))
	require.Empty(t, tf.sink.received())
}

func TestRemoveDropsPartial(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0))
	require.NoError(t, c.client.Mkdir("/d"))
	f, err := c.client.Create("/d/x.csv")
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	c.kill(t)

	c2 := tf.connect(t, testSession("acme", 0, 0, 0)).client
	require.NoError(t, c2.Rename("/d/x.csv", "/d/y.csv"), "a partial moves with its name")
	require.NoError(t, c2.Remove("/d/y.csv"))
	_, err = c2.Stat("/d/y.csv")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, c2.RemoveDirectory("/d"))
}
