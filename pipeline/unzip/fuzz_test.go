package unzip

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// FuzzProcess feeds Process arbitrary archives, seeded with small plain,
// stored, AES (alexmullins/zip and, when installed, 7z), ZipCrypto (7z and
// Info-ZIP's zip) and mixed ones, and the hostile constructions of the
// tests. Whatever the bytes, Process
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
	seed := func(archive string) {
		b, err := os.ReadFile(archive)
		require.NoError(f, err)
		f.Add(b)
	}
	if _, err := exec.LookPath("7z"); err == nil {
		// AES of two key sizes, ZipCrypto, plain deflate and stored, and
		// plain and AES entries mixed in one archive.
		for _, switches := range [][]string{{"-mem=AES128", "-ppw"}, {"-mem=AES256", "-ppw"}, {"-mem=ZipCrypto", "-ppw"}, nil, {"-mm=Copy"}} {
			archive := filepath.Join(f.TempDir(), "s.zip")
			sevenZip(f, archive, switches, file{name: "a.csv", body: "id,name\n1,x\n"})
			seed(archive)
		}
		mixed := filepath.Join(f.TempDir(), "m.zip")
		sevenZip(f, mixed, nil, file{name: "plain.csv", body: "id\n1\n"})
		sevenZip(f, mixed, []string{"-mem=AES256", "-ppw"}, file{name: "secret.csv", body: "id\n2\n"})
		seed(mixed)
	}
	if _, err := exec.LookPath("zip"); err == nil {
		// Info-ZIP's ZipCrypto, with data descriptors (the check byte is
		// then the time's).
		src := writeFiles(f, file{name: "a.csv", body: "id,name\n1,x\n"})
		cmd := exec.Command("zip", "-q", "-P", "pw", "-", "a.csv")
		cmd.Dir = src
		b, err := cmd.Output()
		require.NoError(f, err)
		f.Add(b)
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
