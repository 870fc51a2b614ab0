package sshserver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
)

// TestUploadFolder checks that an upload's folder, which open and close
// each resolve once (handler.openFolder), is the folder the path names when
// the request runs: renaming or replacing the folder while a file is open in
// it never hands on a file at a path that does not hold it.
func TestUploadFolder(t *testing.T) {
	tests := []struct {
		name string
		path string
		// meanwhile runs with the file open and written, before its close.
		meanwhile func(t *testing.T, c *sftp.Client)
		wantOpen  string // substring of the status message of the open; "" for success
		wantClose string // of the close; "" for success
		want      string // local path, relative to the account folder, of the received file
	}{
		{name: "root folder", path: "/x.csv", want: "x.csv"},
		{name: "nested folder", path: "/a/b/x.csv", want: "a/b/x.csv"},
		{name: "missing folder", path: "/none/x.csv", wantOpen: "no such file"},
		{name: "file as folder", path: "/a/file.csv/x.csv", wantOpen: "not a directory"},
		{
			name: "folder renamed while open", path: "/a/b/x.csv",
			meanwhile: func(t *testing.T, c *sftp.Client) { require.NoError(t, c.Rename("/a/b", "/a/moved")) },
			wantClose: "no such file",
		},
		{
			name: "folder replaced while open", path: "/a/b/x.csv",
			meanwhile: func(t *testing.T, c *sftp.Client) {
				require.NoError(t, c.Rename("/a/b", "/a/moved"))
				require.NoError(t, c.Mkdir("/a/b"))
			},
			wantClose: "no such file",
		},
		{
			name: "parent renamed back while open", path: "/a/b/x.csv",
			meanwhile: func(t *testing.T, c *sftp.Client) {
				require.NoError(t, c.Rename("/a", "/z"))
				require.NoError(t, c.Rename("/z", "/a"))
			},
			want: "a/b/x.csv",
		},
		{
			name: "folder with an open upload is not removed", path: "/a/b/x.csv",
			meanwhile: func(t *testing.T, c *sftp.Client) {
				err := c.RemoveDirectory("/a/b")
				require.Error(t, err)
				require.Contains(t, statusMessage(t, err), "directory not empty")
			},
			want: "a/b/x.csv",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			c := tf.connect(t, testSession("acme", 0, 0, 0)).client
			require.NoError(t, c.MkdirAll("/a/b"))
			require.NoError(t, put(t, c, "/a/file.csv", []byte("f")))
			before := len(tf.sink.received())

			f, err := c.Create(tc.path)
			if tc.wantOpen != "" {
				require.Error(t, err)
				require.Contains(t, statusMessage(t, err), tc.wantOpen)
				return
			}
			require.NoError(t, err)
			_, err = f.Write([]byte("data"))
			require.NoError(t, err)
			if tc.meanwhile != nil {
				tc.meanwhile(t, c)
			}
			err = f.Close()
			got := tf.sink.received()[before:]
			if tc.wantClose != "" {
				require.Error(t, err)
				require.Contains(t, statusMessage(t, err), tc.wantClose)
				require.Empty(t, got, "nothing is handed on")
				_, err := os.Stat(filepath.Join(tf.accountDir("acme"), filepath.FromSlash(tc.path)))
				require.ErrorIs(t, err, os.ErrNotExist, "nothing appears at the path")
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			require.Equal(t, tc.path, got[0].Path)
			want := filepath.Join(tf.accountDir("acme"), filepath.FromSlash(tc.want))
			require.Equal(t, want, got[0].File)
			data, err := os.ReadFile(got[0].File)
			require.NoError(t, err)
			require.Equal(t, "data", string(data))
			require.Empty(t, reservedFiles(t, tf.accountDir("acme")))
		})
	}
}
