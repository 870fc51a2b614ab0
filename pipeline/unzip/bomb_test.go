package unzip

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob/blobtest"
	"github.com/sluicehq/sluice/pipeline"
)

// putStreamed writes an archive straight into the input blob with make,
// never holding it whole.
func (e *env) putStreamed(t testing.TB, make func(zw *zip.Writer)) pipeline.Object {
	t.Helper()
	w, err := e.blobs.Create(t.Context(), inputKey)
	require.NoError(t, err)
	zw := zip.NewWriter(w)
	make(zw)
	require.NoError(t, zw.Close())
	require.NoError(t, w.Commit())
	return input()
}

// TestProcessZerosBomb: 8 GiB of zeros deflated to about 8 MB is refused
// within seconds and without writing gigabytes, whether its header tells
// the truth (refused before inflating: nothing written) or understates it
// (refused while inflating, after a few megabytes). A counting wrapper over
// the blob store measures the bytes written, aborted blobs included.
func TestProcessZerosBomb(t *testing.T) {
	zeros := make([]byte, 1<<20)
	const chunks = 8 << 10 // 8 GiB
	for _, tc := range []struct {
		name       string
		declared   uint64
		wantMsg    string
		maxWritten int64
	}{
		{"honest header", 0, "declares 8589934592 bytes from", 0},
		{"understated header", 1 << 30, "expanded to", 32 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), nil, false)
			in := e.putStreamed(t, func(zw *zip.Writer) {
				w, err := zw.Create("readme.csv")
				require.NoError(t, err)
				_, err = w.Write([]byte("a\n"))
				require.NoError(t, err)
				repeatedEntry(t, zw, "zeros.csv", zeros, chunks, tc.declared, 0)
			})
			counted := &blobtest.Counting{Dir: e.blobs}
			e.stage.blobs = counted
			start := time.Now()
			_, err := e.stage.Process(t.Context(), in)
			elapsed := time.Since(start)
			requireRefused(t, e, err, ErrRatio, tc.wantMsg)
			require.ErrorContains(t, err, `entry "zeros.csv"`)
			require.Less(t, elapsed, 3*time.Second, "refused within seconds")
			require.LessOrEqual(t, counted.Written(), tc.maxWritten, "bytes written to the blob store")
			t.Logf("refused in %v after writing %d bytes: %v", elapsed, counted.Written(), err)
		})
	}
}

// TestProcessZip64 extracts a zip64 entry of 4.1 GiB (more than 4 GiB, so
// its sizes need the zip64 extra field) within the default limits: CSV-like
// data deflating about 70:1, streamed in and out in bounded memory.
func TestProcessZip64(t *testing.T) {
	if testing.Short() {
		t.Skip("extracts 4.1 GiB")
	}
	dir := t.TempDir()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	if free := st.Bavail * uint64(st.Bsize); free < 6<<30 {
		t.Skipf("needs 6 GiB free in %s for the 4.1 GiB entry, has %d MiB", dir, free>>20)
	}
	chunk := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range chunk {
		if i%256 == 0 {
			chunk[i] = byte('0' + rng.IntN(10))
		} else if i%64 == 0 {
			chunk[i] = '\n'
		} else {
			chunk[i] = ','
		}
	}
	const chunks = 4100 // 4.1 GiB
	e := newEnv(t, DefaultConfig(), nil, false)
	in := e.putStreamed(t, func(zw *zip.Writer) {
		repeatedEntry(t, zw, "big.csv", chunk, chunks, 0, crcRepeated(chunk, chunks))
	})
	sum := sha256.New()
	for range chunks {
		sum.Write(chunk)
	}

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	outs, err := e.stage.Process(t.Context(), in)
	elapsed := time.Since(start)
	require.NoError(t, err)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Len(t, outs, 1)
	require.Equal(t, int64(chunks)<<20, outs[0].Size)
	require.Equal(t, hex.EncodeToString(sum.Sum(nil)), outs[0].SHA256)
	allocated := after.TotalAlloc - before.TotalAlloc
	require.Less(t, allocated, uint64(16<<20), "memory does not grow with the entry")
	t.Logf("4.1 GiB in %v (%.0f MB/s), %d KiB allocated", elapsed, float64(outs[0].Size)/elapsed.Seconds()/1e6, allocated>>10)
}
