package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// TestE2EParallelSessions runs 50 SFTP sessions at once, each uploading 20
// files: exactly 1000 received events, one per file, none twice.
func TestE2EParallelSessions(t *testing.T) {
	const sessions, files, size = 50, 20, 4 << 10
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)
	events := watchEvents(t, s.natsURL, acme.name)

	want := make(map[string]string, sessions*files) // path → sha256
	contents := make([][][]byte, sessions)
	for i := range contents {
		contents[i] = make([][]byte, files)
		for j := range contents[i] {
			b := make([]byte, size)
			_, err := rand.Read(b)
			require.NoError(t, err)
			contents[i][j] = b
			want[fmt.Sprintf("/s%02d/f%02d.bin", i, j)] = sha256Hex(b)
		}
	}

	start := time.Now()
	var g errgroup.Group
	for i := range sessions {
		c := s.sftpClient(t, acme) // sessions are opened here, used at once below
		g.Go(func() error {
			dir := fmt.Sprintf("/s%02d", i)
			if err := c.Mkdir(dir); err != nil {
				return fmt.Errorf("mkdir %s: %w", dir, err)
			}
			for j, b := range contents[i] {
				if err := put(c, fmt.Sprintf("%s/f%02d.bin", dir, j), b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	t.Logf("%d uploads in %d sessions closed in %s", sessions*files, sessions, time.Since(start).Round(time.Millisecond))

	got := events.wait(t, sessions*files, time.Minute) // also: unique Nats-Msg-Id and event ids
	t.Logf("all events after %s", time.Since(start).Round(time.Millisecond))
	seen := map[string]bool{}
	for _, ev := range got {
		require.False(t, seen[ev.Data.Path], "%s announced twice", ev.Data.Path)
		seen[ev.Data.Path] = true
		requireUpload(t, ev, acme.name, ev.Data.Path, size, want[ev.Data.Path])
	}
	require.Len(t, seen, len(want))
}

// put uploads b to path with the pkg/sftp client c.
func put(c *sftp.Client, path string, b []byte) error {
	f, err := c.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// TestE2ETemporaryName uploads under WinSCP's temporary name x.filepart and
// renames it to its final name: exactly one upload, of the final name.
func TestE2ETemporaryName(t *testing.T) {
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)
	events := watchEvents(t, s.natsURL, acme.name)
	local := t.TempDir()
	const size = 256<<10 + 3
	sum := randomFile(t, local, "x.csv", size)
	data, err := os.ReadFile(filepath.Join(local, "x.csv"))
	require.NoError(t, err)

	tests := []struct {
		name   string
		upload func(t *testing.T, final string)
	}{
		{name: "OpenSSH put and rename", upload: func(t *testing.T, final string) {
			out, err := s.runSFTP(t, acme, byKey, local, "put x.csv "+final+".filepart\nrename "+final+".filepart "+final)
			require.NoError(t, err, out)
		}},
		{name: "SSH_FXP_RENAME as WinSCP sends it", upload: func(t *testing.T, final string) {
			c := s.sftpClient(t, acme)
			require.NoError(t, put(c, final+".filepart", data))
			require.NoError(t, c.Rename(final+".filepart", final))
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			final := fmt.Sprintf("x%d.csv", i)
			tc.upload(t, final)
			got := events.wait(t, i+1, 20*time.Second)
			requireUpload(t, got[i], acme.name, "/"+final, size, sum)
			require.Equal(t, sum, fileSHA256(t, filepath.Join(acme.home, final)))
			_, err := os.Stat(filepath.Join(acme.home, final+".filepart"))
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

// TestE2EKilledClient kills OpenSSH's sftp and ssh in the middle of an
// upload: no event and nothing under the file's name. Resuming with reput
// then finishes the file and records exactly one upload of all of it.
func TestE2EKilledClient(t *testing.T) {
	requireTools(t, "sftp", "ssh")
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)
	events := watchEvents(t, s.natsURL, acme.name)
	local := t.TempDir()
	const size = 16 << 20
	sum := randomFile(t, local, "big.bin", size)

	// -l 8192 Kbit/s: the upload would take 16 s, it is killed after 1 MiB.
	cmd := s.sftpCommand(t, acme, byKey, local, "put big.bin", "-l", "8192")
	require.NoError(t, cmd.Start())
	waitUntil(t, 20*time.Second, "the upload to be under way", func() bool {
		return sizeOf(t, acme.home, ".sluice-u.*.big.bin") > 1<<20
	})
	// sftp and the ssh it runs share a process group; SIGKILL both.
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL))
	require.Error(t, cmd.Wait())

	waitUntil(t, 10*time.Second, "the cut-off upload to be kept for resume", func() bool {
		return sizeOf(t, acme.home, ".sluice-p.big.bin") > 1<<20
	})
	events.none(t, 0, 2*time.Second)
	_, err := os.Stat(filepath.Join(acme.home, "big.bin"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing under the visible name")
	require.Zero(t, sizeOf(t, acme.home, ".sluice-u.*"), "no upload in progress left")

	out, err := s.runSFTP(t, acme, byKey, local, "reput big.bin")
	require.NoError(t, err, out)
	got := events.wait(t, 1, 20*time.Second)
	requireUpload(t, got[0], acme.name, "/big.bin", size, sum)
	require.Equal(t, sum, fileSHA256(t, filepath.Join(acme.home, "big.bin")))
	require.Zero(t, sizeOf(t, acme.home, ".sluice-*"), "the partial file is gone")
}

// sizeOf returns the total size of the files in dir matching pattern, 0 if
// none does.
func sizeOf(t *testing.T, dir, pattern string) int64 {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	var n int64
	for _, m := range matches {
		if info, err := os.Stat(m); err == nil {
			n += info.Size()
		}
	}
	return n
}

// TestE2EQuotaExceeded uploads more than the account's quota_bytes: the
// transfer fails with "quota exceeded" and nothing is recorded; a file that
// fits the quota afterwards is.
func TestE2EQuotaExceeded(t *testing.T) {
	requireTools(t, "sftp", "ssh")
	const quota = 1 << 20
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", map[string]any{"quota_bytes": quota})
	events := watchEvents(t, s.natsURL, acme.name)
	local := t.TempDir()
	randomFile(t, local, "big.bin", 4<<20)
	big, err := os.ReadFile(filepath.Join(local, "big.bin"))
	require.NoError(t, err)

	t.Run("OpenSSH", func(t *testing.T) {
		out, err := s.runSFTP(t, acme, byKey, local, "put big.bin")
		require.Error(t, err, out)
		require.Contains(t, out, "big.bin")
	})
	t.Run("pkg/sftp", func(t *testing.T) {
		c := s.sftpClient(t, acme)
		err := put(c, "big2.bin", big)
		require.Error(t, err)
		require.Contains(t, err.Error(), "quota exceeded")
	})
	for _, name := range []string{"big.bin", "big2.bin"} {
		_, err := os.Stat(filepath.Join(acme.home, name))
		require.ErrorIs(t, err, os.ErrNotExist, name)
	}
	require.Zero(t, sizeOf(t, acme.home, ".sluice-u.*"), "no upload in progress left")
	events.none(t, 0, 2*time.Second)

	// The refused bytes do not count: 900 KiB still fit in 1 MiB.
	const fits = 900 << 10
	sum := randomFile(t, local, "small.bin", fits)
	out, err := s.runSFTP(t, acme, byKey, local, "put small.bin\ndf")
	require.NoError(t, err, out)
	got := events.wait(t, 1, 20*time.Second)
	requireUpload(t, got[0], acme.name, "/small.bin", fits, sum)
	require.Regexp(t, `(?m)^\s+1024\s+900\s+124\s`, out, "df (statvfs) reports the quota in KiB: size, used, available")
}
