package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireTools fails the test when a client it drives is not installed;
// .ci/run installs them.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is required by this test (.ci/run installs it)", tool)
	}
}

// TestE2EOpenSSHClient drives the OpenSSH sftp client in batch mode, with
// key and with password authentication: a put/get round trip with equal
// sha256, ls, mkdir, rename, rm, and exactly one received event per upload.
func TestE2EOpenSSHClient(t *testing.T) {
	requireTools(t, "sftp", "ssh")
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)
	events := watchEvents(t, s.natsURL, acme.name)

	tests := []struct {
		name   string
		how    auth
		method string // as the server logs the login
	}{
		{name: "key", how: byKey, method: "publickey"},
		{name: "password", how: byPassword, method: "password"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := t.TempDir()
			const size = 3<<20 + 12345
			sum := randomFile(t, local, "big.bin", size)
			dir := "in-" + tc.name
			loginLine := `msg=login .*method=` + tc.method + ` result=ok`
			logins := s.logLines(t, loginLine)

			out, err := s.runSFTP(t, acme, tc.how, local, strings.Join([]string{
				"mkdir " + dir,
				"put big.bin " + dir + "/big.bin",
				"get " + dir + "/big.bin back.bin",
				"ls -l " + dir,
			}, "\n"))
			require.NoError(t, err, out)
			require.Equal(t, logins+1, s.logLines(t, loginLine), "logged in by %s", tc.method)
			require.Regexp(t, fmt.Sprintf(`(?m)^-rw.*\s%d\s.*\sbig\.bin$`, size), out, "ls -l shows the file and its size")
			require.Equal(t, sum, fileSHA256(t, filepath.Join(local, "back.bin")), "get returns what put sent")
			require.Equal(t, sum, fileSHA256(t, filepath.Join(acme.home, dir, "big.bin")), "stored as sent")

			got := events.wait(t, i+1, 20*time.Second)
			requireUpload(t, got[i], acme.name, "/"+dir+"/big.bin", size, sum)

			out, err = s.runSFTP(t, acme, tc.how, local, strings.Join([]string{
				"rename " + dir + "/big.bin " + dir + "/renamed.bin",
				"ls " + dir,
				"rm " + dir + "/renamed.bin",
				"rmdir " + dir,
				"ls",
			}, "\n"))
			require.NoError(t, err, out)
			require.Regexp(t, `(?m)^`+dir+`/renamed\.bin\s*$`, out, "ls shows the renamed file")
			_, err = os.Stat(filepath.Join(acme.home, dir))
			require.ErrorIs(t, err, os.ErrNotExist, "rm and rmdir removed the folder")
			events.none(t, i+1, settle) // rename and rm are no uploads
		})
	}
}

// TestE2ELftpAndRclone uploads one file with lftp (password) and one with
// rclone (key); each is recorded with exactly one event.
func TestE2ELftpAndRclone(t *testing.T) {
	requireTools(t, "lftp", "rclone", "ssh")
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)
	events := watchEvents(t, s.natsURL, acme.name)

	tests := []struct {
		name string
		argv func(local, file string) []string
	}{
		{name: "lftp", argv: func(local, file string) []string {
			ssh := "ssh -a -x -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null " +
				"-o PreferredAuthentications=password -o PubkeyAuthentication=no"
			script := strings.Join([]string{
				"set sftp:auto-confirm yes",
				`set sftp:connect-program "` + ssh + `"`,
				"set net:max-retries 1",
				"set net:timeout 15",
				"put " + file,
				"bye",
			}, "; ")
			return []string{"lftp", "-u", acme.name + "," + acme.password, "sftp://127.0.0.1:" + s.port, "-e", script}
		}},
		{name: "rclone", argv: func(local, file string) []string {
			return []string{"rclone", "--config", filepath.Join(local, "rclone.conf"), "copyto", file, ":sftp:" + file,
				"--sftp-host", "127.0.0.1", "--sftp-port", s.port, "--sftp-user", acme.name,
				"--sftp-key-file", acme.keyPath, "--sftp-disable-hashcheck", "--sftp-shell-type", "none",
				"--retries", "1", "--low-level-retries", "1", "--contimeout", "10s"}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := t.TempDir()
			file := tc.name + ".bin"
			const size = 1<<20 + 777
			sum := randomFile(t, local, file, size)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			argv := tc.argv(local, file)
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Dir = local
			cmd.Env = append(os.Environ(), "HOME="+local)
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s: %s", tc.name, out)

			got := events.wait(t, i+1, 20*time.Second)
			requireUpload(t, got[i], acme.name, "/"+file, size, sum)
			require.Equal(t, sum, fileSHA256(t, filepath.Join(acme.home, file)))
		})
	}
}
