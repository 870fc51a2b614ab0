package sshserver

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUploadRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		opts       []sftp.ClientOption
		serverOpts []sftp.RequestServerOption
	}{
		{name: "empty", size: 0},
		{name: "one byte", size: 1},
		{name: "one packet", size: 32 << 10},
		{name: "sequential", size: 3<<20 + 7},
		{name: "concurrent writes", size: 5<<20 + 13, opts: []sftp.ClientOption{
			sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64),
		}},
		{name: "concurrent small packets", size: 2<<20 + 1, opts: []sftp.ClientOption{
			sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64), sftp.MaxPacketUnchecked(4096),
		}},
		{name: "server packet allocator", size: 5<<20 + 13, opts: []sftp.ClientOption{
			sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64),
		}, serverOpts: []sftp.RequestServerOption{sftp.WithRSAllocator()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			tf.serverOpts = tc.serverOpts
			c := tf.connect(t, testSession("acme", 0, 0, 0), tc.opts...)
			data := randomBytes(t, tc.size)

			require.NoError(t, c.client.MkdirAll("/orders/2026"))
			require.NoError(t, put(t, c.client, "/orders/2026/x.csv", data))

			got := tf.sink.received()
			require.Len(t, got, 1)
			require.Equal(t, "acme", got[0].Account)
			require.Equal(t, "/orders/2026/x.csv", got[0].Path)
			require.Equal(t, filepath.Join(tf.accountDir("acme"), "orders", "2026", "x.csv"), got[0].File)
			require.Equal(t, int64(tc.size), got[0].Size)
			require.Equal(t, sha256Hex(data), got[0].SHA256)
			require.Equal(t, "01TESTSESSIONacme", got[0].SessionID)
			require.Equal(t, "192.0.2.7:50000", got[0].Remote)
			require.Equal(t, "SSH-2.0-test", got[0].ClientVersion)
			require.WithinDuration(t, time.Now(), got[0].ClosedAt, time.Minute)

			onDisk, err := os.ReadFile(got[0].File)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, onDisk))
			require.Empty(t, reservedFiles(t, tf.accountDir("acme")))

			f, err := c.client.Open("/orders/2026/x.csv")
			require.NoError(t, err)
			var back bytes.Buffer
			_, err = f.WriteTo(&back)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.Equal(t, sha256Hex(data), sha256Hex(back.Bytes()))
		})
	}
}

// TestOutOfOrderWrites writes the packets of a file in shuffled order from
// many goroutines, with some packets sent twice, as retrying clients do.
func TestOutOfOrderWrites(t *testing.T) {
	tests := []struct {
		name    string
		shuffle func(r *rand.Rand, offs []int64)
		repeat  bool
	}{
		{name: "in order", shuffle: func(*rand.Rand, []int64) {}},
		{name: "reversed", shuffle: func(_ *rand.Rand, o []int64) {
			sort.Slice(o, func(i, j int) bool { return o[i] > o[j] })
		}},
		{name: "random", shuffle: func(r *rand.Rand, o []int64) {
			r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		}},
		{name: "random with repeats", repeat: true, shuffle: func(r *rand.Rand, o []int64) {
			r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		}},
	}
	const chunk = 8 << 10
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			c := tf.connect(t, testSession("acme", 0, 0, 0))
			data := randomBytes(t, 300*chunk+123)
			var offs []int64
			for off := int64(0); off < int64(len(data)); off += chunk {
				offs = append(offs, off)
			}
			r := rand.New(rand.NewPCG(1, 2))
			tc.shuffle(r, offs)
			if tc.repeat {
				offs = append(offs, offs[:20]...)
			}

			f, err := c.client.OpenFile("/x.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			require.NoError(t, err)
			work := make(chan int64)
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for off := range work {
						end := min(off+chunk, int64(len(data)))
						_, err := f.WriteAt(data[off:end], off)
						assert.NoError(t, err)
					}
				})
			}
			for _, off := range offs {
				work <- off
			}
			close(work)
			wg.Wait()
			require.NoError(t, f.Close())

			got := tf.sink.received()
			require.Len(t, got, 1)
			require.Equal(t, int64(len(data)), got[0].Size)
			require.Equal(t, sha256Hex(data), got[0].SHA256)
		})
	}
}

func TestListingHidesInternalFiles(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0))
	require.NoError(t, put(t, c.client, "/a.csv", []byte("a")))

	// An upload in progress in another session is not visible.
	other := tf.connect(t, testSession("acme", 0, 0, 0))
	w, err := other.client.Create("/b.csv")
	require.NoError(t, err)
	_, err = w.Write([]byte("partial"))
	require.NoError(t, err)

	entries, err := c.client.ReadDir("/")
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"a.csv", "reports"}, names)
	_, err = c.client.Stat("/b.csv")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Len(t, reservedFiles(t, tf.accountDir("acme")), 1)

	require.NoError(t, w.Close())
	_, err = c.client.Stat("/b.csv")
	require.NoError(t, err)
}

func TestCommands(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	require.NoError(t, c.Mkdir("/in"))
	require.NoError(t, put(t, c, "/in/a.csv", []byte("alpha")))
	require.NoError(t, put(t, c, "/in/b.csv", []byte("beta")))

	tests := []struct {
		name    string
		run     func() error
		wantErr string // substring of the status message; "" for success
	}{
		{name: "mkdir existing", run: func() error { return c.Mkdir("/in") }, wantErr: "file exists"},
		{name: "mkdir missing parent", run: func() error { return c.Mkdir("/no/such") }, wantErr: "no such file"},
		{name: "rename onto existing refused", run: func() error { return c.Rename("/in/a.csv", "/in/b.csv") }, wantErr: "file exists: /in/b.csv"},
		{name: "posix rename replaces", run: func() error { return c.PosixRename("/in/a.csv", "/in/b.csv") }},
		{name: "rename missing", run: func() error { return c.Rename("/in/zzz", "/in/y") }, wantErr: "no such file"},
		{name: "rename folder", run: func() error { return c.Rename("/in", "/out") }},
		{name: "remove folder refused", run: func() error { return c.Remove("/out") }, wantErr: "directory not empty"}, // pkg/sftp retries as rmdir
		{name: "rmdir non-empty", run: func() error { return c.RemoveDirectory("/out") }, wantErr: "directory not empty"},
		{name: "rmdir file refused", run: func() error { return c.RemoveDirectory("/out/b.csv") }, wantErr: "not a directory"},
		{name: "remove file", run: func() error { return c.Remove("/out/b.csv") }},
		{name: "remove missing", run: func() error { return c.Remove("/out/b.csv") }, wantErr: "no such file"},
		{name: "rmdir empty", run: func() error { return c.RemoveDirectory("/out") }},
		{name: "rmdir root refused", run: func() error { return c.RemoveDirectory("/") }, wantErr: "permission denied"},
		{name: "rename root refused", run: func() error { return c.Rename("/", "/x") }, wantErr: "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, statusMessage(t, err), tc.wantErr)
		})
	}
	entries, err := os.ReadDir(tf.accountDir("acme"))
	require.NoError(t, err)
	require.Len(t, entries, 1) // reports
	require.Len(t, tf.sink.received(), 2, "renames and removals are no uploads")
}

func TestSetstat(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	require.NoError(t, put(t, c, "/a.csv", []byte("alpha")))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

	require.NoError(t, c.Chtimes("/a.csv", mtime, mtime))
	require.NoError(t, c.Chmod("/a.csv", 0o777))
	require.NoError(t, c.Chown("/a.csv", 0, 0))
	info, err := os.Stat(filepath.Join(tf.accountDir("acme"), "a.csv"))
	require.NoError(t, err)
	require.True(t, info.ModTime().Equal(mtime))
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "permissions stay the owner's read and write")

	require.ErrorIs(t, c.Truncate("/a.csv", 2), os.ErrPermission, "a received file cannot be truncated")

	// On a file being uploaded, fsetstat applies to the upload.
	f, err := c.Create("/b.csv")
	require.NoError(t, err)
	_, err = f.Write([]byte("0123456789"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(4))
	require.NoError(t, c.Chtimes("/b.csv", mtime, mtime)) // by path while open: applies to the upload
	st, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, int64(4), st.Size())
	require.NoError(t, f.Close())
	got := tf.sink.received()
	require.Len(t, got, 2)
	require.Equal(t, sha256Hex([]byte("0123")), got[1].SHA256)
	info, err = os.Stat(filepath.Join(tf.accountDir("acme"), "b.csv"))
	require.NoError(t, err)
	require.True(t, info.ModTime().Equal(mtime))
}

func TestReadWriteHandle(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	f, err := c.Create("/rw.csv") // O_RDWR: pkg/sftp's OpenFileWriter path
	require.NoError(t, err)
	_, err = f.Write([]byte("hello world"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = f.ReadAt(buf, 6)
	require.NoError(t, err)
	require.Equal(t, "world", string(buf))
	require.NoError(t, f.Close())
	require.Len(t, tf.sink.received(), 1)
}

func TestOverwriteWithoutTruncate(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	require.NoError(t, put(t, c, "/a.csv", []byte("0123456789")))
	before, err := os.ReadFile(filepath.Join(tf.accountDir("acme"), "a.csv"))
	require.NoError(t, err)

	f, err := c.OpenFile("/a.csv", os.O_WRONLY)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("ab"), 2)
	require.NoError(t, err)
	// The received file is not changed in place while the new version is written.
	during, err := os.ReadFile(filepath.Join(tf.accountDir("acme"), "a.csv"))
	require.NoError(t, err)
	require.Equal(t, before, during)
	require.NoError(t, f.Close())

	got := tf.sink.received()
	require.Len(t, got, 2)
	require.Equal(t, sha256Hex([]byte("01ab456789")), got[1].SHA256)
}

func TestReceivedFailure(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	tf.sink.setErr(io.ErrUnexpectedEOF)
	err := put(t, c, "/a.csv", []byte("alpha"))
	require.Contains(t, statusMessage(t, err), "stored but could not be recorded")
	_, err = os.Stat(filepath.Join(tf.accountDir("acme"), "a.csv"))
	require.NoError(t, err, "the file stays for the client's retry")

	tf.sink.setErr(nil)
	require.NoError(t, put(t, c, "/a.csv", []byte("alpha")))
	require.Len(t, tf.sink.received(), 1)
}

func TestStatVFS(t *testing.T) {
	tests := []struct {
		name       string
		quotaBytes int64
		quotaFiles int64
	}{
		{name: "quota", quotaBytes: 1 << 20, quotaFiles: 10},
		{name: "unlimited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t)
			c := tf.connect(t, testSession("acme", tc.quotaBytes, tc.quotaFiles, 0)).client
			require.NoError(t, put(t, c, "/a.bin", make([]byte, 100<<10)))
			st, err := c.StatVFS("/")
			require.NoError(t, err)
			if tc.quotaBytes == 0 {
				require.Positive(t, st.TotalSpace())
				return
			}
			require.Equal(t, uint64(tc.quotaBytes), st.TotalSpace())
			require.Equal(t, uint64(tc.quotaBytes-100<<10), st.FreeSpace())
			require.Equal(t, uint64(tc.quotaFiles), st.Files)
			require.Equal(t, uint64(tc.quotaFiles-1), st.Ffree)

			st, err = c.StatVFS("/reports")
			require.NoError(t, err)
			require.Equal(t, uint64(stReadOnly), st.Flag&stReadOnly)
		})
	}
}

func TestHandlersRejectsBadAccountName(t *testing.T) {
	tf := newTestFS(t)
	for _, name := range []string{"", ".", "..", "a/b", ".sluice-x", "a\x00b"} {
		_, _, err := tf.fs.Handlers(t.Context(), testSession(name, 0, 0, 0))
		require.Error(t, err, name)
	}
}

func TestNewFSValidates(t *testing.T) {
	sink, feeds := &fakeSink{}, &fakeFeeds{}
	tests := []struct {
		name  string
		cfg   FSConfig
		sink  UploadSink
		feeds FeedLookup
	}{
		{name: "no home", cfg: FSConfig{}, sink: sink, feeds: feeds},
		{name: "negative retention", cfg: FSConfig{HomeDir: t.TempDir(), PartialRetention: -time.Second}, sink: sink, feeds: feeds},
		{name: "bad pattern", cfg: FSConfig{HomeDir: t.TempDir(), TempPatterns: []string{"[x"}}, sink: sink, feeds: feeds},
		{name: "no sink", cfg: FSConfig{HomeDir: t.TempDir()}, feeds: feeds},
		{name: "no feeds", cfg: FSConfig{HomeDir: t.TempDir()}, sink: sink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFS(tc.cfg, tc.sink, tc.feeds, nil)
			require.Error(t, err)
		})
	}
}
