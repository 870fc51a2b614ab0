package unzip

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// sevenZipBytes makes an archive with 7z and returns it.
func sevenZipBytes(t *testing.T, switches []string, files ...file) []byte {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "a.zip")
	sevenZip(t, archive, switches, files...)
	b, err := os.ReadFile(archive)
	require.NoError(t, err)
	return b
}

// tamper flips one byte in the middle of the ciphertext of the archive's
// last entry.
func tamper(t *testing.T, archive []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	require.NoError(t, err)
	f := zr.File[len(zr.File)-1]
	off, err := f.DataOffset()
	require.NoError(t, err)
	out := bytes.Clone(archive)
	out[off+int64(f.CompressedSize64)/2] ^= 0x20
	return out
}

// withMode makes an archive of one entry with mode bits, as Unix zips
// store them.
func withMode(t *testing.T, name, body string, mode fs.FileMode) []byte {
	return plainZip(t, file{name: name, body: body, mode: mode})
}

// TestProcessRefuses has one case per bad archive of issue 4 (and more),
// each asserting the specific error, its message, that it is permanent
// and that nothing is left in the blob store.
func TestProcessRefuses(t *testing.T) {
	body := csvBody(2000)
	two := []file{{name: "a.csv", body: body}, {name: "b.csv", body: body}}
	type tc struct {
		name      string
		archive   func(t *testing.T) []byte
		cfg       func(*Config)
		passwords []string
		chain     []string
		wantErr   error
		wantMsg   string
	}
	cases := []tc{
		{name: "wrong password", archive: func(t *testing.T) []byte { return sevenZipBytes(t, []string{"-mem=AES256", "-pright"}, two...) },
			passwords: []string{"wrong", "also-wrong"}, wantErr: ErrWrongPassword, wantMsg: `entry "a.csv": none of the account's ZIP passwords opens the entry`},
		{name: "no password", archive: func(t *testing.T) []byte { return sevenZipBytes(t, []string{"-mem=AES256", "-pright"}, two...) },
			wantErr: ErrNoPassword, wantMsg: "the account has no ZIP password"},
		{name: "tampered AES entry", archive: func(t *testing.T) []byte {
			return tamper(t, sevenZipBytes(t, []string{"-mem=AES256", "-pright"}, two...))
		}, passwords: []string{"right"}, wantErr: ErrIntegrity, wantMsg: `entry "b.csv": its HMAC does not match`},
		{name: "tampered alexmullins entry", archive: func(t *testing.T) []byte {
			return tamper(t, alexZip(t, "right", file{name: "a.csv", body: body, secret: true}))
		}, passwords: []string{"right"}, wantErr: ErrIntegrity, wantMsg: "its HMAC does not match"},
		{name: "AE-1 with a wrong CRC", archive: func(t *testing.T) []byte {
			return toAE1(t, sevenZipBytes(t, []string{"-mem=AES256", "-pright"}, two...), map[string]string{"a.csv": body, "b.csv": body}, true)
		}, passwords: []string{"right"}, wantErr: ErrCorruptEntry, wantMsg: `entry "a.csv": its CRC-32 does not match`},
		{name: "ZipCrypto not allowed", archive: func(t *testing.T) []byte {
			p := filepath.Join(t.TempDir(), "zc.zip")
			infoZip(t, p, []string{"-P", "right"}, two...)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			return b
		}, passwords: []string{"right"}, wantErr: ErrZipCrypto, wantMsg: "-mem=AES256"},
		{name: "overlapping entries, full", archive: func(t *testing.T) []byte { return overlapFull(t) },
			wantErr: ErrOverlap, wantMsg: `entries "a.csv" and "b.csv": entries overlap`},
		{name: "overlapping entries, quoted", archive: func(t *testing.T) []byte { return overlapQuoted(t) },
			wantErr: ErrOverlap, wantMsg: `entries "a.csv" and "b.csv"`},
		{name: "symlink", archive: func(t *testing.T) []byte { return withMode(t, "link.csv", "../../etc/passwd", fs.ModeSymlink|0o777) },
			wantErr: ErrSymlink, wantMsg: `entry "link.csv": symbolic links`},
		{name: "symlink made by Info-ZIP", archive: func(t *testing.T) []byte {
			need(t, "zip", "zip")
			src := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(src, "a.csv"), []byte("a\n"), 0o644))
			require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(src, "passwd.csv")))
			p := filepath.Join(t.TempDir(), "l.zip")
			run(t, src, "zip", "-q", "-y", p, "a.csv", "passwd.csv")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			return b
		}, wantErr: ErrSymlink, wantMsg: `entry "passwd.csv"`},
		{name: "symlink made by 7z", archive: func(t *testing.T) []byte {
			need(t, "7z", "p7zip-full")
			src := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(src, "a.csv"), []byte("a\n"), 0o644))
			require.NoError(t, os.Symlink("../../etc/passwd", filepath.Join(src, "passwd.csv")))
			p := filepath.Join(t.TempDir(), "l.zip")
			run(t, src, "7z", "a", "-tzip", "-bd", "-bso0", "-snl", p, "a.csv", "passwd.csv")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			return b
		}, wantErr: ErrSymlink, wantMsg: `entry "passwd.csv": symbolic links`},
		{name: "named pipe", archive: func(t *testing.T) []byte { return withMode(t, "fifo", "", fs.ModeNamedPipe|0o644) },
			wantErr: ErrSpecialFile, wantMsg: `entry "fifo" is a named pipe`},
		{name: "100,000 entries", archive: func(t *testing.T) []byte { return manyEntries(t, 100_000) },
			wantErr: ErrTooManyEntries, wantMsg: "declares 100000 entries, more than 10000"},
		{name: "entry count above the limit, understated", archive: func(t *testing.T) []byte {
			// The end record's 16-bit count says 11 (65547 modulo 65536),
			// which archive/zip would accept after reading every header.
			var z rawZip
			for i := range 65536 + 11 {
				z.add(header{name: fmt.Sprintf("f%06d.csv", i)}, nil)
			}
			return z.bytes()
		}, cfg: func(c *Config) { c.MaxEntries = 100 }, wantErr: ErrTooManyEntries, wantMsg: "holds more than 100 entries"},
		{name: "entry count above the limit, declared", archive: func(t *testing.T) []byte { return manyEntries(t, 11) },
			cfg: func(c *Config) { c.MaxEntries = 10 }, wantErr: ErrTooManyEntries, wantMsg: "declares 11 entries, more than 10"},
		{name: "corrupt central directory", archive: func(t *testing.T) []byte {
			b := plainZip(t, file{name: "a.csv", body: "a\n", store: true}, file{name: "b.csv", body: "b\n", store: true})
			i := bytes.Index(b, []byte("PK\x01\x02"))
			b[i+3] = 9
			return b
		}, wantErr: ErrCorruptDirectory, wantMsg: "central directory is corrupt"},
		{name: "central directory offset past the end", archive: func(t *testing.T) []byte {
			b := plainZip(t, file{name: "a.csv", body: "a\n"})
			binary.LittleEndian.PutUint32(b[len(b)-6:], uint32(len(b)+100))
			return b
		}, wantErr: ErrCorruptDirectory, wantMsg: "central directory is corrupt"},
		{name: "local header missing", archive: func(t *testing.T) []byte {
			b := plainZip(t, file{name: "a.csv", body: "a\n", store: true})
			b[2] = 'X'
			return b
		}, wantErr: ErrCorruptDirectory, wantMsg: `entry "a.csv": its local header is unreadable`},
		{name: "truncated archive", archive: func(t *testing.T) []byte {
			b := sevenZipBytes(t, []string{"-mem=AES256", "-pright"}, two...)
			return b[:len(b)/2]
		}, passwords: []string{"right"}, wantErr: ErrTruncated, wantMsg: "end-of-central-directory record is missing"},
		{name: "truncated by a few bytes", archive: func(t *testing.T) []byte {
			b := plainZip(t, two...)
			return b[:len(b)-5]
		}, wantErr: ErrTruncated, wantMsg: "truncated (was the upload cut off?)"},
		{name: "method bzip2 from 7z", archive: func(t *testing.T) []byte { return sevenZipBytes(t, []string{"-mm=BZip2"}, two...) },
			wantErr: ErrMethod, wantMsg: `entry "a.csv" uses method 12 (bzip2)`},
		{name: "method LZMA inside AES", archive: func(t *testing.T) []byte {
			return sevenZipBytes(t, []string{"-mm=LZMA", "-mem=AES256", "-pright"}, two...)
		}, passwords: []string{"right"}, wantErr: ErrMethod, wantMsg: "method 14 (LZMA)"},
		{name: "AES key strength unknown", archive: func(t *testing.T) []byte {
			var z rawZip
			z.add(header{name: "a.csv", flags: flagEncrypted, method: methodAES, csize: 40, usize: 10,
				extra: []byte{0x01, 0x99, 7, 0, 2, 0, 'A', 'E', 5, 8, 0}}, make([]byte, 40))
			return z.bytes()
		}, passwords: []string{"right"}, wantErr: ErrUnsupportedEncryption, wantMsg: "WinZip AES key strength 5"},
		{name: "PKWARE strong encryption", archive: func(t *testing.T) []byte {
			var z rawZip
			z.add(header{name: "a.csv", flags: flagEncrypted | flagStrong, method: zip.Deflate, csize: 40, usize: 10}, make([]byte, 40))
			return z.bytes()
		}, passwords: []string{"right"}, wantErr: ErrUnsupportedEncryption, wantMsg: "PKWARE strong encryption"},
		{name: "duplicate names, case", archive: func(t *testing.T) []byte { return plainZip(t, file{name: "A.csv"}, file{name: "a.CSV"}) },
			wantErr: ErrDuplicateName, wantMsg: `entries "A.csv" and "a.CSV"`},
		{name: "duplicate names, cleaned", archive: func(t *testing.T) []byte { return plainZip(t, file{name: "d/x.csv"}, file{name: "./d//x.csv"}) },
			wantErr: ErrDuplicateName, wantMsg: `entries "d/x.csv" and "./d//x.csv"`},
		{name: "total size above the limit", archive: func(t *testing.T) []byte { return plainZip(t, two...) },
			cfg: func(c *Config) { c.MaxTotalBytes = int64(len(body)) + 10 }, wantErr: ErrTooLarge, wantMsg: "declare more than"},
		{name: "size larger than declared", archive: func(t *testing.T) []byte {
			data := deflated(t, []byte(body))
			var z rawZip
			z.add(header{name: "a.csv", method: zip.Deflate, crc: crc32.ChecksumIEEE([]byte(body)), csize: uint32(len(data)), usize: 100}, data)
			return z.bytes()
		}, wantErr: ErrCorruptEntry, wantMsg: "expands beyond the 100 bytes its header declares"},
		{name: "size smaller than declared", archive: func(t *testing.T) []byte {
			data := deflated(t, []byte(body))
			var z rawZip
			z.add(header{name: "a.csv", method: zip.Deflate, crc: crc32.ChecksumIEEE([]byte(body)), csize: uint32(len(data)), usize: uint32(len(body) + 1)}, data)
			return z.bytes()
		}, wantErr: ErrCorruptEntry, wantMsg: fmt.Sprintf("is %d bytes, its header declares %d", len(body), len(body)+1)},
		{name: "wrong CRC", archive: func(t *testing.T) []byte {
			var z rawZip
			z.add(header{name: "a.csv", crc: 1, csize: 2, usize: 2}, []byte("a\n"))
			return z.bytes()
		}, wantErr: ErrCorruptEntry, wantMsg: "CRC-32 does not match"},
		{name: "second entry corrupt, first removed", archive: func(t *testing.T) []byte {
			var z rawZip
			z.add(header{name: "a.csv", crc: crc32.ChecksumIEEE([]byte("a\n")), csize: 2, usize: 2}, []byte("a\n"))
			z.add(header{name: "b.csv", crc: 1, csize: 2, usize: 2}, []byte("b\n"))
			return z.bytes()
		}, wantErr: ErrCorruptEntry, wantMsg: `entry "b.csv": its CRC-32 does not match`},
		{name: "invalid deflate data", archive: func(t *testing.T) []byte {
			var z rawZip
			z.add(header{name: "a.csv", method: zip.Deflate, csize: 4, usize: 2}, []byte{0xff, 0xff, 0xff, 0xff})
			return z.bytes()
		}, wantErr: ErrCorruptEntry, wantMsg: "deflate stream is invalid"},
		{name: "nested archive", archive: func(t *testing.T) []byte { return plainZip(t, two...) },
			chain: []string{"pgp", "zip"}, wantErr: ErrNesting, wantMsg: "inside 1 archive(s) already, the limit is 1"},
		{name: "empty archive", archive: func(t *testing.T) []byte {
			return plainZip(t, file{name: "dir/"}, file{name: "__MACOSX/._a.csv", body: "x"})
		}, wantErr: ErrEmpty, wantMsg: "holds no files"},
	}
	for _, name := range []struct{ name, reason string }{
		{"../x.csv", `climbs out of its folder with ".."`},
		{"dir/../../x.csv", `climbs out`},
		{"/etc/x.csv", "is an absolute path"},
		{"C:/x.csv", "is an absolute path"},
		{`a\b.csv`, "holds a backslash"},
		{`..\x.csv`, "holds a backslash"},
		{"a\x00b.csv", "holds a NUL or another control character"},
		{"a\nb.csv", "control character"},
		{"invoice\u202evsc.exe", "control character"},
		{"", "is empty"},
		{"./", "names no file"},
		{strings.Repeat("n", 2000), "is longer than 1024 bytes"},
		{"__MACOSX/../../x", "climbs out"},
	} {
		cases = append(cases, tc{name: fmt.Sprintf("unsafe name %.20q", name.name),
			archive: func(t *testing.T) []byte {
				var z rawZip
				z.add(header{name: "ok.csv"}, nil)
				z.add(header{name: name.name, csize: 1, usize: 1, crc: crc32.ChecksumIEEE([]byte("x"))}, []byte("x"))
				return z.bytes()
			},
			wantErr: ErrUnsafeName, wantMsg: name.reason})
	}
	cases = append(cases, tc{name: "unsafe name, invalid UTF-8 flagged UTF-8", archive: func(t *testing.T) []byte {
		var z rawZip
		z.add(header{name: "a\xff.csv", flags: flagUTF8}, nil)
		return z.bytes()
	}, wantErr: ErrUnsafeName, wantMsg: "is not valid UTF-8"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			e := newEnv(t, cfg, c.passwords, false)
			in := e.put(t, c.archive(t))
			in.Chain = c.chain
			outs, err := e.stage.Process(t.Context(), in)
			require.Nil(t, outs)
			requireRefused(t, e, err, c.wantErr, c.wantMsg)
			require.NotContains(t, err.Error(), "right", "no password in messages")
		})
	}
}

// manyEntries makes an archive of n empty stored entries.
func manyEntries(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		_, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%06d.csv", i), Method: zip.Store})
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestProcessInternalErrors: a missing blob is an internal fault, retried,
// not the customer's.
func TestProcessInternalErrors(t *testing.T) {
	e := newEnv(t, DefaultConfig(), nil, false)
	_, err := e.stage.Process(t.Context(), input())
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.False(t, pipeline.IsPermanent(err))

	in := e.put(t, plainZip(t, file{name: "a.csv", body: "a\n"}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = e.stage.Process(ctx, in)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, pipeline.IsPermanent(err))
	require.Empty(t, e.outputs(t))

	// A disk failing at any read, whatever the phase, is never blamed on
	// the archive.
	archive := alexZip(t, "pw", file{name: "a.csv", body: csvBody(3000), secret: true}, file{name: "b.csv", body: "b\n"})
	for failAt := 1; ; failAt++ {
		e := newEnv(t, DefaultConfig(), []string{"pw"}, false)
		in := e.put(t, archive)
		flaky := &flakyBlobs{Dir: e.blobs, failAt: failAt}
		e.stage.blobs = flaky
		outs, err := e.stage.Process(t.Context(), in)
		if err == nil {
			require.Len(t, outs, 2)
			require.Greater(t, failAt, 5, "the test reached every phase")
			break
		}
		require.ErrorIs(t, err, errDiskOnFire, "read %d", failAt)
		require.False(t, pipeline.IsPermanent(err), "read %d: %v", failAt, err)
	}
}

// streamOnlyBlobs is the real blob.Dir whose readers only stream.
type streamOnlyBlobs struct{ *blob.Dir }

func (b streamOnlyBlobs) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := b.Dir.Open(ctx, key)
	return struct{ io.ReadCloser }{rc}, err
}

func TestProcessNeedsRandomAccess(t *testing.T) {
	e := newEnv(t, DefaultConfig(), nil, false)
	in := e.put(t, plainZip(t, file{name: "a.csv", body: "a\n"}))
	e.stage.blobs = streamOnlyBlobs{e.blobs}
	_, err := e.stage.Process(t.Context(), in)
	require.ErrorContains(t, err, "is not an io.ReaderAt: unzip needs random access")
	require.False(t, pipeline.IsPermanent(err))
}

var errDiskOnFire = errors.New("disk on fire")

// flakyBlobs is the real blob.Dir whose readers fail from their failAt-th
// ReadAt on.
type flakyBlobs struct {
	*blob.Dir
	failAt int
}

func (b *flakyBlobs) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := b.Dir.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &flakyFile{File: rc.(*os.File), failAt: b.failAt}, nil
}

type flakyFile struct {
	*os.File
	calls, failAt int
}

func (f *flakyFile) ReadAt(p []byte, off int64) (int, error) {
	f.calls++
	if f.calls >= f.failAt {
		return 0, errDiskOnFire
	}
	return f.File.ReadAt(p, off)
}
