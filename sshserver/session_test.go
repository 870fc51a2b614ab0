package sshserver

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// packet frames one SFTP packet of type typ with a body of n bytes.
func packet(typ byte, n int) []byte {
	b := make([]byte, 5+n)
	binary.BigEndian.PutUint32(b, uint32(1+n))
	b[4] = typ
	return b
}

func TestFramer(t *testing.T) {
	stream := bytes.Join([][]byte{packet(1, 4), packet(3, 40), packet(6, 70000), packet(4, 9), packet(17, 0)}, nil)
	want := []byte{1, 3, 6, 4, 17}
	tests := []struct {
		name  string
		chunk int
	}{
		{"whole", len(stream)},
		{"byte by byte", 1},
		{"header split", 3},
		{"odd chunks", 4093},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f framer
			var got []byte
			for b := stream; len(b) > 0; {
				n := min(tc.chunk, len(b))
				f.feed(b[:n], func(typ byte) { got = append(got, typ) })
				b = b[n:]
			}
			require.Equal(t, want, got)
		})
	}
}

// pipeRW is a ReadWriteCloser that reads from r and writes to w.
type pipeRW struct {
	r io.Reader
	w bytes.Buffer
}

func (p *pipeRW) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeRW) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeRW) Close() error                { return nil }

func TestSFTPStreamBusy(t *testing.T) {
	const (
		fxpInit    = 1
		fxpVersion = 2
		fxpOpen    = 3
		fxpWrite   = 6
		fxpStatus  = 101
	)
	in := bytes.Join([][]byte{packet(fxpInit, 4), packet(fxpOpen, 20), packet(fxpWrite, 100), packet(fxpClose, 8)}, nil)
	rw := &pipeRW{r: bytes.NewReader(in)}
	s := &sftpStream{rw: rw}
	read := func(n int) {
		t.Helper()
		_, err := io.ReadFull(s, make([]byte, n))
		require.NoError(t, err)
	}
	write := func(p []byte) {
		t.Helper()
		// Written in two parts, as pkg/sftp writes header and payload.
		_, err := s.Write(p[:7])
		require.NoError(t, err)
		_, err = s.Write(p[7:])
		require.NoError(t, err)
	}
	require.False(t, s.busy())
	read(9) // init
	require.True(t, s.busy(), "init unanswered")
	write(packet(fxpVersion, 4))
	require.False(t, s.busy())
	read(25) // open
	write(packet(fxpHandle, 8))
	require.True(t, s.busy(), "handle open")
	read(105) // write
	write(packet(fxpStatus, 20))
	require.True(t, s.busy(), "handle still open")
	read(13) // close
	require.True(t, s.busy(), "close unanswered")
	write(packet(fxpStatus, 20))
	require.False(t, s.busy())
}
