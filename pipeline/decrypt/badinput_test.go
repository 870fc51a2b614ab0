package decrypt

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob/blobtest"
	"github.com/sluicehq/sluice/internal/gnupgtest"
	"github.com/sluicehq/sluice/pipeline"
)

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestProcessLargeCompressionBomb: a GnuPG-made message of more than a
// megabyte, 1 GiB of zeros compressed with zlib (about 800:1), is refused
// as a compression bomb within seconds, having written no more than
// max_expansion_ratio times the message's size (plus the 1 MiB always
// allowed), far from the gigabyte it holds, and leaving nothing behind. The
// small bomb of TestProcessRejects is refused just past the 1 MiB floor;
// this one shows the ratio bounds what a large one costs.
func TestProcessLargeCompressionBomb(t *testing.T) {
	const plain = 1 << 30
	g := &gnupg{gnupgtest.New(t)}
	ctx := t.Context()
	fpr, err := g.generate(ctx, uidEd, "ed25519", "cv25519")
	require.NoError(t, err)
	account, err := g.entities(ctx, true, fpr)
	require.NoError(t, err)

	cmdCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := g.Command(cmdCtx, "-r", uidEd, "--compress-algo", "zlib", "-z", "9", "-e")
	cmd.Stdin = io.LimitReader(zeros{}, plain)
	var msgBuf, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msgBuf, &stderr
	require.NoError(t, cmd.Run(), "gpg: %s", stderr.Bytes())
	msg := msgBuf.Bytes()
	require.Greater(t, len(msg), 1<<20, "a bomb of more than a megabyte")
	require.Greater(t, int64(plain)/int64(len(msg)), DefaultConfig().MaxExpansionRatio, "it expands past the limit")

	e := newEnv(t, DefaultConfig(), keyring{decrypt: account}, policy{})
	counted := &blobtest.Counting{Dir: e.blobs}
	s, err := New(DefaultConfig(), counted, keyring{decrypt: account}, policy{}, nil)
	require.NoError(t, err)
	in := e.put(t, "zeros.csv.gpg", msg)
	start := time.Now()
	outs, err := s.Process(t.Context(), in)
	elapsed := time.Since(start)
	require.Nil(t, outs)
	require.ErrorIs(t, err, ErrExpansion)
	require.True(t, pipeline.IsPermanent(err), "permanent: %v", err)
	require.ErrorContains(t, err, "expands more than 200 times (pipeline.decrypt.max_expansion_ratio): refused as a compression bomb")
	require.Equal(t, []string{in.Key}, e.files(t), "nothing written but the input")
	bound := DefaultConfig().MaxExpansionRatio*int64(len(msg)) + expansionFloor
	require.LessOrEqual(t, counted.Written(), bound, "written at most ratio × message size")
	require.Less(t, elapsed, 30*time.Second, "refused within seconds")
	t.Logf("%d-byte message of %d zero bytes refused in %v after writing %d bytes: %v", len(msg), plain, elapsed, counted.Written(), err)
}
