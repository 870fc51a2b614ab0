package unzip

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// FuzzProcess feeds Process arbitrary archives, seeded with small plain,
// stored, AES (alexmullins/zip and, when installed, 7z) and ZipCrypto ones
// and the hostile constructions of the tests. Whatever the bytes, Process
// must not panic, must blame the input (a Permanent error) rather than
// itself, and must leave nothing behind when it refuses.
func FuzzProcess(f *testing.F) {
	f.Add(plainZip(f, file{name: "a.csv", body: "id,name\n1,x\n"}, file{name: "d/b.csv", body: "b\n", store: true}))
	f.Add(alexZip(f, "pw", file{name: "a.csv", body: "id\n1\n", secret: true}, file{name: "b.csv", body: "b\n"}))
	f.Add(overlapFull(f))
	f.Add(overlapQuoted(f))
	var z rawZip
	z.add(header{name: "a.csv", flags: flagEncrypted, method: methodAES, csize: 40, usize: 10,
		extra: []byte{0x01, 0x99, 7, 0, 1, 0, 'A', 'E', 1, 8, 0}}, make([]byte, 40))
	f.Add(z.bytes())
	var zc rawZip
	zc.add(header{name: "z.csv", flags: flagEncrypted, csize: 14, usize: 2}, make([]byte, 14))
	f.Add(zc.bytes())
	if _, err := os.Stat("/usr/bin/7z"); err == nil {
		for _, mem := range []string{"-mem=AES128", "-mem=AES256"} {
			archive := filepath.Join(f.TempDir(), "s.zip")
			sevenZip(f, archive, []string{mem, "-ppw"}, file{name: "a.csv", body: "id,name\n1,x\n"})
			b, err := os.ReadFile(archive)
			require.NoError(f, err)
			f.Add(b)
		}
	}

	// The real blob.Dir, on tmpfs when there is one: every execution commits
	// its input, and fsync on a disk would make the fuzzer crawl.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "unzip-fuzz"); err == nil {
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	d, err := blob.Open(dir)
	require.NoError(f, err)
	f.Cleanup(func() { d.Close() })
	cfg := DefaultConfig()
	cfg.MaxTotalBytes = 8 << 20
	cfg.MaxEntries = 100
	s, err := New(cfg, d, staticPasswords{"pw", "other"}, staticPolicy(true), slog.New(slog.DiscardHandler))
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, archive []byte) {
		w, err := d.Create(t.Context(), inputKey)
		require.NoError(t, err)
		_, err = w.Write(archive)
		require.NoError(t, err)
		require.NoError(t, w.Commit())

		outs, err := s.Process(t.Context(), input())
		if err != nil {
			require.True(t, pipeline.IsPermanent(err), "an archive is never an internal fault: %v", err)
			require.True(t, isBadInput(err), "%v", err)
			require.Nil(t, outs)
		}
		var left int
		require.NoError(t, filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && filepath.Base(path) != "in.zip" {
				left++
				return os.Remove(path)
			}
			return err
		}))
		require.Equal(t, len(outs), left, "only the outputs are left")
		if err == nil {
			require.NotEmpty(t, outs)
			// The standard library agrees that the archive is readable.
			_, zerr := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
			if zerr != nil {
				require.ErrorIs(t, zerr, zip.ErrInsecurePath)
			}
		}
	})
}
