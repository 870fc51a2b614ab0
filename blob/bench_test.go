package blob

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkStores measures the write and read throughput of Dir and of
// Objects (on a single in-process server, file storage) at several chunk
// sizes, for a 32 MiB blob written in 64 KiB writes and read with a 64 KiB
// buffer, sequentially (Read) and through ReadAt as unzip does. Dir's
// numbers include an fsync per blob; the server's, none (it syncs every two
// minutes by default).
//
//	go test -run '^$' -bench Stores -benchtime 10x ./blob
func BenchmarkStores(b *testing.B) {
	const size, step = 32 << 20, 64 << 10
	body := random(size, 1)
	type store struct {
		name string
		open func(b *testing.B) Store
	}
	stores := []store{{name: "dir", open: func(b *testing.B) Store {
		d, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		return d
	}}}
	for _, chunk := range []int{128 << 10, 256 << 10, 1 << 20} {
		stores = append(stores, store{name: fmt.Sprintf("objects-%dK", chunk>>10), open: func(b *testing.B) Store {
			return newObjects(b, chunk)
		}})
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			write := func(key string) {
				w, err := s.Create(b.Context(), key)
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < size; off += step {
					if _, err := w.Write(body[off : off+step]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("write", func(b *testing.B) {
				b.SetBytes(size)
				for i := 0; b.Loop(); i++ {
					write(fmt.Sprintf("bench/w%d", i%4))
				}
			})
			write("bench/r")
			buf := make([]byte, step)
			b.Run("read", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					r, err := s.Open(b.Context(), "bench/r")
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.CopyBuffer(io.Discard, r, buf); err != nil || n != size {
						b.Fatal(n, err)
					}
					r.Close()
				}
			})
			b.Run("readat", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					r, err := s.Open(b.Context(), "bench/r")
					if err != nil {
						b.Fatal(err)
					}
					// archive/zip reads each entry through a section reader.
					sr := io.NewSectionReader(r.(io.ReaderAt), 0, size)
					if n, err := io.CopyBuffer(io.Discard, sr, buf); err != nil || n != size {
						b.Fatal(n, err)
					}
					r.Close()
				}
			})
		})
	}
}
