package sshserver

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
)

// BenchmarkUpload measures the write path: 256 MiB per operation through
// pkg/sftp's client and request server over OS pipes (no SSH), into the FS:
// written, hashed, synced, renamed and handed to a fake sink.
//
// Nearly all allocations are pkg/sftp's, one buffer per packet received;
// its WithRSAllocator option reuses them, which the "allocator" case shows.
func BenchmarkUpload(b *testing.B) {
	const size = 256 << 20
	data := randomBytes(b, size)
	for _, bc := range []struct {
		name string
		opts []sftp.RequestServerOption
	}{
		{name: "default"},
		{name: "allocator", opts: []sftp.RequestServerOption{sftp.WithRSAllocator()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tf := newTestFS(b)
			client := newBenchClient(b, tf, bc.opts...)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				f, err := client.Create("/bench.bin")
				require.NoError(b, err)
				_, err = f.ReadFrom(bytes.NewReader(data))
				require.NoError(b, err)
				require.NoError(b, f.Close())
			}
			got := tf.sink.received()
			require.NotEmpty(b, got)
			require.Equal(b, sha256Hex(data), got[len(got)-1].SHA256)
		})
	}
}

// pipeRWC is the server's end of a pair of OS pipes.
type pipeRWC struct {
	io.Reader
	io.WriteCloser
}

func newBenchClient(b *testing.B, tf *testFS, opts ...sftp.RequestServerOption) *sftp.Client {
	b.Helper()
	handlers, end, err := tf.fs.Handlers(b.Context(), testSession("acme", 0, 0, 0))
	require.NoError(b, err)
	toServerR, toServerW, err := os.Pipe()
	require.NoError(b, err)
	toClientR, toClientW, err := os.Pipe()
	require.NoError(b, err)
	server := sftp.NewRequestServer(pipeRWC{toServerR, toClientW}, handlers, opts...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.Serve()
		end()
		toClientW.Close()
	}()
	client, err := sftp.NewClientPipe(toClientR, toServerW,
		sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64))
	require.NoError(b, err)
	b.Cleanup(func() {
		client.Close() // closes toServerW: the server sees EOF and closes toClientW
		<-done
		toServerR.Close()
		toClientR.Close()
	})
	return client
}
