package decrypt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// TestMain removes the large files and GnuPG home the memory test and the
// benchmarks share.
func TestMain(m *testing.M) {
	code := m.Run()
	bigMu.Lock()
	if bigHome != nil {
		bigHome.Close()
	}
	bigMu.Unlock()
	os.Exit(code)
}

// Large messages made by GnuPG, in a GnuPG home that lives as long as the
// test binary, so that gpg --decrypt can run next to the stage.
var (
	bigMu   sync.Mutex
	bigHome *gnupg
	bigKeys openpgp.EntityList
	bigMsgs = map[string]string{} // size/compression → path of the message
)

// bigMessage returns the path of a GnuPG-encrypted message of size bytes of
// CSV, compressed as compress says ("none"; "default", GnuPG's default,
// ZLIB for its keys; "armor", none in ASCII armor), and the account's keys.
func bigMessage(tb testing.TB, size int64, compress string) (string, openpgp.EntityList) {
	tb.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		tb.Skip("gpg is not installed")
	}
	bigMu.Lock()
	defer bigMu.Unlock()
	ctx := context.Background()
	if bigHome == nil {
		g, err := openGnuPG()
		require.NoError(tb, err)
		bigHome = g
		fpr, err := g.generate(ctx, uidEd, "ed25519", "cv25519")
		require.NoError(tb, err)
		bigKeys, err = g.entities(ctx, true, fpr)
		require.NoError(tb, err)
	}
	name := fmt.Sprintf("%d-%s", size, compress)
	if p, ok := bigMsgs[name]; ok {
		return p, bigKeys
	}
	plain := filepath.Join(bigHome.Dir, fmt.Sprintf("%d.csv", size))
	if _, err := os.Stat(plain); err != nil {
		require.NoError(tb, writeCSV(plain, size))
	}
	out := filepath.Join(bigHome.Dir, name+".gpg")
	args := []string{"-o", out, "-r", uidEd}
	switch compress {
	case "none":
		args = append(args, "--compress-algo", "none")
	case "armor":
		args = append(args, "--compress-algo", "none", "--armor")
	}
	args = append(args, "-e", plain)
	_, err := bigHome.Run(ctx, nil, args...)
	require.NoError(tb, err)
	bigMsgs[name] = out
	return out, bigKeys
}

// writeCSV writes size bytes of varied CSV rows to path.
func writeCSV(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var row []byte
	var n int64
	for i := int64(0); n < size; i++ {
		row = append(row[:0], "order-"...)
		row = strconv.AppendInt(row, i, 10)
		row = append(row, ",customer "...)
		row = strconv.AppendInt(row, i*7919%100003, 10)
		row = append(row, ",user"...)
		row = strconv.AppendInt(row, i*104729%1000003, 10)
		row = append(row, "@example.com,"...)
		row = strconv.AppendInt(row, i*31%99991, 10)
		row = append(row, '.')
		row = strconv.AppendInt(row, 10+i%90, 10)
		row = append(row, ",2024-"...)
		row = strconv.AppendInt(row, 10+i%3, 10)
		row = append(row, '-')
		row = strconv.AppendInt(row, 10+i%19, 10)
		row = append(row, '\n')
		if rest := size - n; int64(len(row)) > rest {
			row = row[:rest]
		}
		w.Write(row)
		n += int64(len(row))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bigEnv is a Stage over a blob.Dir holding the message at path as its input.
// With discardOutput, the Stage's outputs go nowhere.
func bigEnv(tb testing.TB, path string, keys openpgp.EntityList, blobs *blob.Dir, discardOutput bool) (*Stage, pipeline.Object) {
	tb.Helper()
	var out pipeline.Blobs = blobs
	if discardOutput {
		out = discard{blobs}
	}
	s, err := New(DefaultConfig(), out, keyring{decrypt: keys}, policy{}, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	in := pipeline.Object{ID: "01JBIG", UploadID: "01JBIG", Account: "acme", Name: "big.csv.gpg", Key: "01JBIG/in"}
	src, err := os.Open(path)
	require.NoError(tb, err)
	defer src.Close()
	w, err := blobs.Create(context.Background(), in.Key)
	require.NoError(tb, err)
	_, err = io.Copy(w, src)
	require.NoError(tb, err)
	require.NoError(tb, w.Commit())
	return s, in
}

func newBlobDir(tb testing.TB) *blob.Dir {
	tb.Helper()
	d, err := blob.Open(tb.TempDir())
	require.NoError(tb, err)
	tb.Cleanup(func() { d.Close() })
	return d
}

// discard is a pipeline.Blobs that writes nowhere: it measures the stage
// without the disk.
type discard struct{ pipeline.Blobs }

func (discard) Create(context.Context, string) (pipeline.BlobWriter, error) {
	return discardWriter{}, nil
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) Commit() error               { return nil }
func (discardWriter) Abort() error                { return nil }

// TestMemoryIsFlat decrypts 64 MiB messages and checks that what the stage
// allocates does not grow with them: no whole-file buffer anywhere.
func TestMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 64 MiB messages")
	}
	const size = 64 << 20
	for _, compress := range []string{"none", "default"} {
		t.Run(compress, func(t *testing.T) {
			path, keys := bigMessage(t, size, compress)
			s, in := bigEnv(t, path, keys, newBlobDir(t), false)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			outs, err := s.Process(t.Context(), in)
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			require.Equal(t, int64(size), outs[0].Size)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %.1f MiB allocated for 64 MiB, %.0f KiB per MiB", compress, float64(alloc)/(1<<20), float64(alloc)/1024/64)
			require.Less(t, alloc, uint64(8<<20), "allocations grow with the file")
		})
	}
}

// gpgNanos holds gpg --decrypt's time per message, for the ratio the stage's
// benchmark reports next to it.
var gpgNanos sync.Map

// BenchmarkProcess decrypts a 256 MiB CSV encrypted by GnuPG, uncompressed
// (binary and armored) and with its default compression, with the stage (writing to a blob.Dir,
// fsync included, or to nowhere) and with gpg --decrypt in the same run.
// The stage's results report x-gpg, its throughput relative to gpg's, and
// B-alloc/MiB, what it allocates per MiB of content.
func BenchmarkProcess(b *testing.B) {
	const size = 256 << 20
	for _, compress := range []string{"none", "armor", "default"} {
		b.Run(compress, func(b *testing.B) {
			path, keys := bigMessage(b, size, compress)
			b.Run("gpg", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					out, err := bigHome.Run(b.Context(), nil, "-o", "/dev/null", "--decrypt", path)
					require.NoError(b, err, "%s", out)
				}
				gpgNanos.Store(compress, float64(b.Elapsed().Nanoseconds())/float64(b.N))
			})
			for _, sink := range []string{"discard", "blobdir"} {
				b.Run("sluice-"+sink, func(b *testing.B) {
					s, in := bigEnv(b, path, keys, newBlobDir(b), sink == "discard")
					b.SetBytes(size)
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					start := time.Now()
					for b.Loop() {
						_, err := s.Process(b.Context(), in)
						require.NoError(b, err)
					}
					elapsed := time.Since(start)
					runtime.ReadMemStats(&after)
					b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(size>>20), "B-alloc/MiB")
					if g, ok := gpgNanos.Load(compress); ok {
						b.ReportMetric(g.(float64)/(float64(elapsed.Nanoseconds())/float64(b.N)), "x-gpg")
					}
				})
			}
		})
	}
}
