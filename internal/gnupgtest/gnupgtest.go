// Package gnupgtest runs the real GnuPG for tests, in a private home
// directory per use: the fixtures of the OpenPGP tests are made by gpg itself,
// never by the code under test. It is imported only by tests.
package gnupgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Home is a private GnuPG home directory. Its methods are safe for
// concurrent use as far as gpg itself is.
type Home struct {
	// Dir is the home directory (GNUPGHOME).
	Dir string
}

// New returns a Home for one test, removed (and its agent stopped) when the
// test ends. It skips the test when gpg is not installed.
func New(t testing.TB) *Home {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	h, err := Open()
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h
}

// Open creates a Home that the caller closes, for fixtures shared by a whole
// test binary. It is not under t.TempDir: gpg-agent puts its sockets in the
// home, and a test's temporary path can exceed the 108 bytes a socket path
// may have.
func Open() (*Home, error) {
	dir, err := os.MkdirTemp("/tmp", "gpg")
	if err != nil {
		return nil, fmt.Errorf("create gnupg home: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("chmod gnupg home: %w", err)
	}
	return &Home{Dir: dir}, nil
}

// Close stops the agent and removes the home directory.
func (h *Home) Close() {
	cmd := exec.Command("gpgconf", "--kill", "all")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+h.Dir)
	_ = cmd.Run() // best effort: the agent also exits when its home disappears
	_ = os.RemoveAll(h.Dir)
}

// Command returns gpg in batch mode with a loopback pinentry (passphrases on
// the command line) and every key trusted, followed by args.
func (h *Home) Command(ctx context.Context, args ...string) *exec.Cmd {
	args = append([]string{"--homedir", h.Dir, "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--trust-model", "always"}, args...)
	return exec.CommandContext(ctx, "gpg", args...)
}

// Run runs gpg with args and stdin and returns its standard output; an error
// carries gpg's standard error. It gives gpg at most two minutes.
func (h *Home) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := h.Command(ctx, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gpg %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// Must runs gpg like Run and fails the test on error.
func (h *Home) Must(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := h.Run(t.Context(), stdin, args...)
	require.NoError(t, err)
	return out
}
