package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// contractChunk is the chunk size of the Objects store under the contract:
// small, so that blobs of a few KiB span several chunks.
const contractChunk = MinChunkSize

// testStore is a Store under the contract test and a way to count what it
// keeps besides committed blobs (temporary files, stray chunks).
type testStore struct {
	Store
	leftovers func(t *testing.T) int
}

// stores are the implementations the contract runs against, each fresh.
var stores = []struct {
	name string
	open func(t *testing.T) testStore
}{
	{name: "dir", open: func(t *testing.T) testStore {
		dir := t.TempDir()
		d, err := Open(dir)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		return testStore{Store: d, leftovers: func(t *testing.T) int {
			n := 0
			require.NoError(t, filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
				if err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
					n++
				}
				return err
			}))
			return n
		}}
	}},
	{name: "objects", open: func(t *testing.T) testStore {
		o := newObjects(t, contractChunk)
		return testStore{Store: o, leftovers: func(t *testing.T) int {
			// Chunks of no live object: every object but an empty one
			// holds exactly one chunk subject.
			live, _ := o.obs.List(t.Context()) // ErrNoObjectsFound when none
			withChunks := 0
			for _, info := range live {
				if info.Chunks > 0 {
					withChunks++
				}
			}
			return o.chunkSubjects(t) - withChunks
		}}
	}},
}

// put writes blob key with body in writes of step bytes and commits it.
func put(t *testing.T, s Store, key string, body []byte, step int) {
	t.Helper()
	w, err := s.Create(t.Context(), key)
	require.NoError(t, err)
	for rest := body; len(rest) > 0; {
		n := min(step, len(rest))
		_, err := w.Write(rest[:n])
		require.NoError(t, err)
		rest = rest[n:]
	}
	require.NoError(t, w.Commit())
}

// get reads blob key whole.
func get(t *testing.T, s Store, key string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// requireMissing checks that blob key does not exist.
func requireMissing(t *testing.T, s Store, key string) {
	t.Helper()
	_, err := s.Open(t.Context(), key)
	require.ErrorIs(t, err, fs.ErrNotExist, key)
}

// random returns n pseudo-random bytes.
func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func TestStoreContract(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Run("round trip", func(t *testing.T) {
				s := st.open(t)
				for _, tc := range []struct {
					name string
					size int
					step int
				}{
					{name: "empty", size: 0, step: 1},
					{name: "one byte", size: 1, step: 1},
					{name: "a chunk less one", size: contractChunk - 1, step: 100},
					{name: "one chunk", size: contractChunk, step: contractChunk},
					{name: "a chunk and one", size: contractChunk + 1, step: 7},
					{name: "chunks and a half in big writes", size: 7*contractChunk + contractChunk/2, step: 3 * contractChunk},
				} {
					t.Run(tc.name, func(t *testing.T) {
						key := "up/" + strings.ReplaceAll(tc.name, " ", "-")
						body := random(tc.size, uint64(tc.size))
						put(t, s, key, body, tc.step)
						require.Equal(t, body, get(t, s, key))
						requireReadAt(t, s, key, body)
					})
				}
				require.Zero(t, s.leftovers(t))
			})

			t.Run("invisible until commit", func(t *testing.T) {
				s := st.open(t)
				w, err := s.Create(t.Context(), "up/01J/out.csv")
				require.NoError(t, err)
				_, err = w.Write(random(3*contractChunk, 1))
				require.NoError(t, err)
				requireMissing(t, s, "up/01J/out.csv")
				require.NoError(t, w.Commit())
				require.NoError(t, w.Commit(), "commit is idempotent")
				require.NoError(t, w.Abort(), "abort after commit is a no-op")
				_, err = w.Write([]byte("x"))
				require.Error(t, err, "write after commit")
				require.Equal(t, random(3*contractChunk, 1), get(t, s, "up/01J/out.csv"))
			})

			t.Run("abort leaves nothing", func(t *testing.T) {
				s := st.open(t)
				for _, n := range []int{0, 10, 5*contractChunk + 3} {
					w, err := s.Create(t.Context(), "up/gone")
					require.NoError(t, err)
					_, err = w.Write(random(n, 2))
					require.NoError(t, err)
					require.NoError(t, w.Abort())
					require.NoError(t, w.Abort(), "abort is idempotent")
					require.NoError(t, w.Commit(), "commit after abort is a no-op")
					requireMissing(t, s, "up/gone")
					require.Zero(t, s.leftovers(t), "after aborting %d bytes", n)
				}
			})

			t.Run("abort keeps the committed blob", func(t *testing.T) {
				s := st.open(t)
				put(t, s, "up/x", []byte("first"), 5)
				w, err := s.Create(t.Context(), "up/x")
				require.NoError(t, err)
				_, err = w.Write(random(2*contractChunk, 3))
				require.NoError(t, err)
				require.NoError(t, w.Abort())
				require.Equal(t, "first", string(get(t, s, "up/x")))
				require.Zero(t, s.leftovers(t))
			})

			t.Run("commit replaces", func(t *testing.T) {
				s := st.open(t)
				put(t, s, "up/x", random(4*contractChunk, 4), 1000)
				put(t, s, "up/x", []byte("x\n"), 2)
				require.Equal(t, "x\n", string(get(t, s, "up/x")))
				require.Zero(t, s.leftovers(t), "the replaced blob's bytes are gone")
			})

			t.Run("remove", func(t *testing.T) {
				s := st.open(t)
				require.NoError(t, s.Remove(t.Context(), "up/never"), "removing a missing blob is fine")
				put(t, s, "up/x", random(2*contractChunk, 5), contractChunk)
				require.NoError(t, s.Remove(t.Context(), "up/x"))
				requireMissing(t, s, "up/x")
				require.NoError(t, s.Remove(t.Context(), "up/x"), "removing it again is fine")
				require.Zero(t, s.leftovers(t))
				put(t, s, "up/x", []byte("again"), 5)
				require.Equal(t, "again", string(get(t, s, "up/x")), "a removed key can be written again")
			})

			t.Run("remove all of a prefix", func(t *testing.T) {
				s := st.open(t)
				keys := []string{"A/x", "A/sub/y", "A/sub/deeper/z", "AB/x", "B/A/x", "A.1/x", "Z"}
				for i, k := range keys {
					put(t, s, k, random(i*1000, uint64(i)), 999)
				}
				require.NoError(t, s.RemoveAll(t.Context(), "A"))
				for _, k := range keys[:3] {
					requireMissing(t, s, k)
				}
				for i, k := range keys[3:] {
					require.Equal(t, random((i+3)*1000, uint64(i+3)), get(t, s, k), "sibling %s kept", k)
				}
				require.NoError(t, s.RemoveAll(t.Context(), "A"), "again")
				require.NoError(t, s.RemoveAll(t.Context(), "nothing"), "a missing prefix")
				require.NoError(t, s.RemoveAll(t.Context(), "B/A"))
				requireMissing(t, s, "B/A/x")
				require.Equal(t, random(3000, 3), get(t, s, "AB/x"))
				require.Zero(t, s.leftovers(t))
			})

			t.Run("invalid keys", func(t *testing.T) {
				s := st.open(t)
				for _, key := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", "a/", "sp ace", "a/.tmp-x", "nul\x00", "é", strings.Repeat("a", 1025)} {
					_, err := s.Create(t.Context(), key)
					require.ErrorContains(t, err, "invalid blob key", "%q", key)
					_, err = s.Open(t.Context(), key)
					require.ErrorContains(t, err, "invalid blob key", "%q", key)
					require.ErrorContains(t, s.Remove(t.Context(), key), "invalid blob key", "%q", key)
					require.ErrorContains(t, s.RemoveAll(t.Context(), key), "invalid blob key", "%q", key)
				}
			})

			t.Run("concurrent writers", func(t *testing.T) {
				s := st.open(t)
				const writers = 8
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				for i := range writers {
					wg.Go(func() {
						w, err := s.Create(t.Context(), fmt.Sprintf("up/%d/out", i))
						if err != nil {
							errs <- err
							return
						}
						body := random(3*contractChunk+i, uint64(i))
						for rest := body; len(rest) > 0; rest = rest[min(1000, len(rest)):] {
							if _, err := w.Write(rest[:min(1000, len(rest))]); err != nil {
								errs <- err
								return
							}
						}
						if i%3 == 2 {
							errs <- w.Abort()
							return
						}
						errs <- w.Commit()
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				for i := range writers {
					if i%3 == 2 {
						requireMissing(t, s, fmt.Sprintf("up/%d/out", i))
						continue
					}
					require.Equal(t, random(3*contractChunk+i, uint64(i)), get(t, s, fmt.Sprintf("up/%d/out", i)))
				}
				require.Zero(t, s.leftovers(t))
			})

			t.Run("import", func(t *testing.T) {
				s := st.open(t)
				src := filepath.Join(t.TempDir(), "upload")
				body := random(5*contractChunk+17, 9)
				require.NoError(t, os.WriteFile(src, body, 0o600))
				require.NoError(t, Import(t.Context(), s, "up/upload", src))
				require.Equal(t, body, get(t, s, "up/upload"))
				require.NoError(t, Import(t.Context(), s, "up/upload", src), "again")
				require.Equal(t, body, get(t, s, "up/upload"))
				require.Error(t, Import(t.Context(), s, "up/none", filepath.Join(t.TempDir(), "missing")))
				requireMissing(t, s, "up/none")
				require.Zero(t, s.leftovers(t))
			})
		})
	}
}

// requireReadAt checks that the reader of key is an io.ReaderAt with a
// Stat method (what unzip needs) that reads body at any offset.
func requireReadAt(t *testing.T, s Store, key string, body []byte) {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	require.NoError(t, err)
	defer r.Close()
	ra, ok := r.(io.ReaderAt)
	require.True(t, ok, "%T is an io.ReaderAt", r)
	st, ok := r.(interface{ Stat() (fs.FileInfo, error) })
	require.True(t, ok, "%T has Stat", r)
	fi, err := st.Stat()
	require.NoError(t, err)
	require.EqualValues(t, len(body), fi.Size())

	n, err := ra.ReadAt(make([]byte, 1), int64(len(body)))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF, "at the end")
	if len(body) == 0 {
		return
	}
	rnd := rand.New(rand.NewPCG(uint64(len(body)), 1))
	for range 50 {
		off := rnd.IntN(len(body))
		p := make([]byte, rnd.IntN(2*contractChunk)+1)
		n, err := ra.ReadAt(p, int64(off))
		want := body[off:min(len(body), off+len(p))]
		require.Equal(t, len(want), n, "ReadAt error: %v", err)
		if n < len(p) {
			require.ErrorIs(t, err, io.EOF)
		} else {
			require.NoError(t, err)
		}
		require.True(t, bytes.Equal(want, p[:n]), "bytes at %d", off)
	}
	// The io.SectionReader archive/zip reads through.
	all, err := io.ReadAll(io.NewSectionReader(ra, 0, fi.Size()))
	require.NoError(t, err)
	require.Equal(t, body, all)
}

// TestObjectsCancelledWriter checks that a writer whose ctx ends before
// Commit leaves nothing behind.
func TestObjectsCancelledWriter(t *testing.T) {
	o := newObjects(t, contractChunk)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := o.Create(ctx, "up/x")
	require.NoError(t, err)
	_, err = w.Write(random(3*contractChunk, 1))
	require.NoError(t, err)
	cancel()
	// The cancellation reaches the writer's goroutine asynchronously: a
	// write right after it may still be taken; the commit may not.
	if _, err = w.Write(random(3*contractChunk, 1)); err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
	require.ErrorIs(t, w.Commit(), context.Canceled)
	requireMissing(t, o, "up/x")
	require.Zero(t, o.chunkSubjects(t))
}
