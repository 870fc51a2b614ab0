package sshserver

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWritebackDue(t *testing.T) {
	const e = writebackEvery
	tests := []struct {
		name     string
		total, n int64
		want     bool
	}{
		{name: "small file", total: 4096, n: 4096},
		{name: "just below", total: e - 1, n: 32 << 10},
		{name: "reaches the mark", total: e, n: 32 << 10, want: true},
		{name: "crosses the mark", total: e + 100, n: 32 << 10, want: true},
		{name: "past the mark", total: e + 32<<10 + 100, n: 32 << 10},
		{name: "crosses the third mark", total: 3*e + 1, n: 2, want: true},
		{name: "one write over two marks", total: 2*e + 1, n: e + 2, want: true},
		{name: "nothing written", total: e, n: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, writebackDue(tc.total, tc.n))
		})
	}
}

// TestLargeUploadWithWriteback uploads a file of several writeback steps and
// checks what was received.
func TestLargeUploadWithWriteback(t *testing.T) {
	tf := newTestFS(t)
	c := tf.connect(t, testSession("acme", 0, 0, 0)).client
	data := randomBytes(t, 2*writebackEvery+12345)
	require.NoError(t, put(t, c, "/big.bin", data))
	got := tf.sink.received()
	require.Len(t, got, 1)
	require.Equal(t, int64(len(data)), got[0].Size)
	require.Equal(t, sha256Hex(data), got[0].SHA256)
}
