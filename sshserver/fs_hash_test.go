package sshserver

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// hashWrites writes data to a real file in the given order of chunks, from
// workers goroutines at once, feeding a prefixHash as WriteAt does, and
// returns the hash and whether incremental hashing gave up.
func hashWrites(t *testing.T, data []byte, chunks []span, workers int) (sum string, stopped bool) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	require.NoError(t, err)
	defer f.Close()
	bufs := &sync.Pool{New: func() any { b := make([]byte, hashChunk); return &b }}
	ph := newPrefixHash(f, bufs, true)
	work := make(chan span)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for s := range work {
				p := append([]byte(nil), data[s.start:s.end]...)
				_, err := f.WriteAt(p, s.start)
				if err == nil {
					ph.wrote(p, s.start)
				}
				clear(p) // the caller's buffer is gone once WriteAt returns
			}
		})
	}
	for _, s := range chunks {
		work <- s
	}
	close(work)
	wg.Wait()
	ph.mu.Lock()
	stopped = ph.stopped
	ph.mu.Unlock()
	sum, err = ph.finish(int64(len(data)))
	require.NoError(t, err)
	return sum, stopped
}

func chunked(size, chunk int) []span {
	var out []span
	for off := 0; off < size; off += chunk {
		out = append(out, span{int64(off), int64(min(off+chunk, size))})
	}
	return out
}

func TestPrefixHash(t *testing.T) {
	data := make([]byte, 2<<20+3)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	want := sha256Hex(data)
	tests := []struct {
		name        string
		chunks      func() []span
		workers     int
		wantStopped bool // incremental hashing gave up: finish read the rest back
	}{
		{name: "in order", workers: 1, chunks: func() []span { return chunked(len(data), 32<<10) }},
		{name: "in order concurrent", workers: 8, chunks: func() []span { return chunked(len(data), 32<<10) }},
		{name: "window of 64 shuffled", workers: 8, chunks: func() []span {
			c := chunked(len(data), 32<<10)
			for i := 0; i < len(c); i += 64 {
				w := c[i:min(i+64, len(c))]
				r.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
			}
			return c
		}},
		{name: "reversed: one growing range, read back at the end", workers: 1, chunks: func() []span {
			c := chunked(len(data), 4<<10)
			for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
				c[i], c[j] = c[j], c[i]
			}
			return c
		}},
		{name: "overwrite of hashed bytes", workers: 1, wantStopped: true, chunks: func() []span {
			return append(chunked(len(data), 32<<10), span{100, 200})
		}},
		{name: "overlapping ranges", workers: 4, chunks: func() []span {
			return []span{{1000, 5000}, {3000, 9000}, {0, 1000}, {9000, int64(len(data))}}
		}},
		{name: "hole filled last", workers: 1, chunks: func() []span {
			return []span{{0, 10}, {20, int64(len(data))}, {10, 20}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, stopped := hashWrites(t, data, tc.chunks(), tc.workers)
			require.Equal(t, want, got)
			if tc.wantStopped {
				require.True(t, stopped)
			} else if tc.workers == 1 {
				require.False(t, stopped)
			}
		})
	}
}

func TestPrefixHashPending(t *testing.T) {
	ph := &prefixHash{}
	ph.addPending(span{10, 20})
	ph.addPending(span{30, 40})
	ph.addPending(span{20, 30})
	require.Equal(t, []span{{10, 40}}, ph.pending)
	ph.addPending(span{50, 60})
	ph.addPending(span{5, 8})
	require.Equal(t, []span{{5, 8}, {10, 40}, {50, 60}}, ph.pending)
	ph.addPending(span{0, 100})
	require.Equal(t, []span{{0, 100}}, ph.pending)
	for i := 0; !ph.stopped; i++ {
		require.Less(t, i, maxPendingSpans)
		ph.addPending(span{int64(1000 + 10*i), int64(1005 + 10*i)})
	}
	require.True(t, ph.stopped, "too many ranges: give up and hash at close")
	require.Empty(t, ph.pending)
}
