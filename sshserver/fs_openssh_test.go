package sshserver

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

// These tests drive the file system with the real OpenSSH sftp client.

func TestOpenSSHRoundTrip(t *testing.T) {
	requireOpenSSH(t)
	tf := newTestFS(t)
	srv := startSSHServer(t, tf, sshServerOptions{session: func() *Session { return testSession("acme", 0, 0, 0) }})
	local := t.TempDir()
	data := randomBytes(t, 20<<20)
	require.NoError(t, os.WriteFile(filepath.Join(local, "big.bin"), data, 0o600))

	out, err := srv.runSFTP(t, local, strings.Join([]string{
		"mkdir in",
		"put big.bin in/big.bin",
		"get in/big.bin back.bin",
		"ls -l in",
		"rename in/big.bin in/b2.bin",
		"ls in",
		"rm in/b2.bin",
		"rmdir in",
		"ls",
	}, "\n"))
	require.NoError(t, err, out)
	require.Contains(t, out, "big.bin")
	require.Contains(t, out, "acme", "ls -l names the account as owner")

	got := tf.sink.received()
	require.Len(t, got, 1)
	require.Equal(t, "/in/big.bin", got[0].Path)
	require.Equal(t, int64(len(data)), got[0].Size)
	require.Equal(t, sha256Hex(data), got[0].SHA256)
	back, err := os.ReadFile(filepath.Join(local, "back.bin"))
	require.NoError(t, err)
	require.Equal(t, sha256Hex(data), sha256Hex(back))
	entries, err := os.ReadDir(tf.accountDir("acme"))
	require.NoError(t, err)
	require.Len(t, entries, 1) // reports
}

func TestOpenSSHTraversal(t *testing.T) {
	requireOpenSSH(t)
	tf := newTestFS(t)
	srv := startSSHServer(t, tf, sshServerOptions{session: func() *Session { return testSession("acme", 0, 0, 0) }})
	local := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(local, "f"), []byte("data"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	home := tf.accountDir("acme")
	require.NoError(t, os.MkdirAll(home, 0o700))
	require.NoError(t, os.Symlink(outside, filepath.Join(home, "out")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(home, "secretlink")))

	tests := []struct {
		name   string
		script string
		ok     bool
		want   string // in the output
	}{
		{name: "put with dot dot lands inside", script: "put f ../../x", ok: true},
		{name: "cd dot dot at the root", script: "cd ..\ncd ..\npwd", ok: true, want: "Remote working directory: /"},
		{name: "absolute host path", script: "get /etc/passwd p"},
		{name: "put absolute host path", script: "put f /etc/x"},
		{name: "ln -s", script: "ln -s x l"},
		{name: "symlink", script: "symlink x l"},
		{name: "hard link", script: "ln x l"},
		{name: "get through planted dir link", script: "get out/secret s"},
		{name: "get through planted file link", script: "get secretlink s"},
		{name: "put through planted link", script: "put f out/planted"},
		{name: "ls a file through planted link", script: "ls -l out/secret"},
		{name: "cd through planted link", script: "cd out"},
		{name: "reserved name", script: "put f .sluice-p.x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := srv.runSFTP(t, local, tc.script)
			if tc.ok {
				require.NoError(t, err, out)
			} else {
				require.Error(t, err, out)
			}
			require.Contains(t, out, tc.want)
		})
	}
	data, err := os.ReadFile(filepath.Join(home, "x"))
	require.NoError(t, err)
	require.Equal(t, "data", string(data))
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing written outside")
	for _, name := range []string{"s", "p"} {
		_, err := os.Stat(filepath.Join(local, name))
		require.ErrorIs(t, err, os.ErrNotExist, "nothing read from outside")
	}
	require.Len(t, tf.sink.received(), 1)
}

func TestOpenSSHReportsAndQuota(t *testing.T) {
	requireOpenSSH(t)
	tf := newTestFS(t)
	srv := startSSHServer(t, tf, sshServerOptions{session: func() *Session { return testSession("acme", 1<<20, 0, 0) }})
	local := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(local, "small.csv"), []byte("id\n1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(local, "big.bin"), randomBytes(t, 5<<20), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(tf.accountDir("acme"), "reports"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(tf.accountDir("acme"), "reports", "r.json"), []byte("{}"), 0o600))

	tests := []struct {
		name   string
		script string
		ok     bool
	}{
		{name: "get a report", script: "get reports/r.json", ok: true},
		{name: "put into reports", script: "put small.csv reports/"},
		{name: "rm a report", script: "rm reports/r.json"},
		{name: "mkdir in reports", script: "mkdir reports/x"},
		{name: "quota exceeded in the middle of a write", script: "put big.bin"},
		{name: "within quota", script: "put small.csv", ok: true},
		{name: "df shows the quota", script: "df -h", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := srv.runSFTP(t, local, tc.script)
			if tc.ok {
				require.NoError(t, err, out)
				return
			}
			require.Error(t, err, out)
		})
	}
	got := tf.sink.received()
	require.Len(t, got, 1)
	require.Equal(t, "/small.csv", got[0].Path)
	require.Empty(t, reservedFiles(t, tf.accountDir("acme")))
	_, err := os.Stat(filepath.Join(tf.accountDir("acme"), "big.bin"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestOpenSSHTemporaryNameAndEncryption(t *testing.T) {
	requireOpenSSH(t)
	tf := newTestFS(t, credentials.Feed{Account: "acme", Name: "secure", Path: "/secure", RequireEncryption: true})
	srv := startSSHServer(t, tf, sshServerOptions{session: func() *Session { return testSession("acme", 0, 0, 0) }})
	local := t.TempDir()
	data := randomBytes(t, 3<<20)
	require.NoError(t, os.WriteFile(filepath.Join(local, "x.csv"), data, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(local, "plain.csv"), []byte("id\n1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(local, "enc.zip"), append([]byte("PK\x03\x04"), data[:1000]...), 0o600))

	out, err := srv.runSFTP(t, local, "put x.csv x.csv.filepart\nrename x.csv.filepart x.csv")
	require.NoError(t, err, out)
	got := tf.sink.received()
	require.Len(t, got, 1, "exactly one upload")
	require.Equal(t, "/x.csv", got[0].Path)
	require.Equal(t, sha256Hex(data), got[0].SHA256)

	out, err = srv.runSFTP(t, local, "mkdir secure\nput plain.csv secure/plain.csv")
	require.Error(t, err, out)
	out, err = srv.runSFTP(t, local, "put enc.zip secure/enc.zip\nls secure")
	require.NoError(t, err, out)
	require.NotContains(t, out, "plain.csv")
	got = tf.sink.received()
	require.Len(t, got, 2)
	require.Equal(t, "/secure/enc.zip", got[1].Path)
}

// TestOpenSSHKilledUploadAndReput kills the client in the middle of an
// upload, checks nothing was handed on, then finishes the file with reput.
func TestOpenSSHKilledUploadAndReput(t *testing.T) {
	requireOpenSSH(t)
	tf := newTestFS(t)
	session := func() *Session { return testSession("acme", 0, 0, 0) }
	slow := startSSHServer(t, tf, sshServerOptions{session: session, throttle: 4 << 20})
	fast := startSSHServer(t, tf, sshServerOptions{session: session})
	local := t.TempDir()
	data := randomBytes(t, 20<<20)
	require.NoError(t, os.WriteFile(filepath.Join(local, "big.bin"), data, 0o600))
	home := tf.accountDir("acme")

	cmd := slow.sftpCommand(t, local, "put big.bin")
	require.NoError(t, cmd.Start())
	waitFor(t, "the upload to be under way", func() bool {
		temps, _ := filepath.Glob(filepath.Join(home, tempPrefix+"*"))
		if len(temps) != 1 {
			return false
		}
		info, err := os.Stat(temps[0])
		return err == nil && info.Size() > 2<<20
	})
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL))
	_ = cmd.Wait()

	partial := filepath.Join(home, partialName("big.bin"))
	waitFor(t, "the server to keep the partial upload", func() bool {
		_, err := os.Stat(partial)
		return err == nil
	})
	info, err := os.Stat(partial)
	require.NoError(t, err)
	require.Less(t, info.Size(), int64(len(data)))
	require.Empty(t, tf.sink.received(), "a killed upload is never handed on")

	out, err := fast.runSFTP(t, local, "ls -l big.bin\nreput big.bin")
	require.NoError(t, err, out)
	got := tf.sink.received()
	require.Len(t, got, 1)
	require.Equal(t, "/big.bin", got[0].Path)
	require.Equal(t, int64(len(data)), got[0].Size)
	require.Equal(t, sha256Hex(data), got[0].SHA256)
	require.Empty(t, reservedFiles(t, home))
}
