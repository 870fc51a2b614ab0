package decrypt

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadPacketHeader(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 700)
	tests := []struct {
		name   string
		packet []byte
		tag    byte
		body   []byte
		err    error // of reading the body
	}{
		{name: "legacy, one-octet length", packet: append([]byte{0xA0, 3}, "abc"...), tag: 8, body: []byte("abc")},
		{name: "legacy, two-octet length", packet: append([]byte{0xA1, 0x02, 0xBC}, body...), tag: 8, body: body},
		{name: "legacy, four-octet length", packet: append([]byte{0xAE, 0, 0, 0x02, 0xBC}, body...), tag: 11, body: body},
		{name: "legacy, indeterminate length", packet: append([]byte{0xA3}, "abc"...), tag: 8, body: []byte("abc")},
		{name: "new, one-octet length", packet: append([]byte{0xC8, 3}, "abc"...), tag: 8, body: []byte("abc")},
		{name: "new, two-octet length", packet: append([]byte{0xC8, 0xC1, 0xFC}, body...), tag: 8, body: body},
		{name: "new, five-octet length", packet: append([]byte{0xCB, 0xFF, 0, 0, 0x02, 0xBC}, body...), tag: 11, body: body},
		{
			name: "new, partial lengths", tag: 8, body: body,
			packet: slicesConcat([]byte{0xC8, 0xE9}, body[:512], []byte{0xE0}, body[512:513], []byte{187}, body[513:]),
		},
		{name: "body cut short", packet: append([]byte{0xC8, 5}, "abc"...), tag: 8, body: []byte("abc"), err: io.ErrUnexpectedEOF},
		{name: "partial body cut short", packet: append([]byte{0xC8, 0xE9}, body[:100]...), tag: 8, body: body[:100], err: io.ErrUnexpectedEOF},
		{name: "partial without a next length", packet: append([]byte{0xC8, 0xE0}, 'a'), tag: 8, body: []byte("a"), err: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tag, r, err := readPacketHeader(bufio.NewReader(bytes.NewReader(tc.packet)))
			require.NoError(t, err)
			require.Equal(t, tc.tag, tag)
			got, err := io.ReadAll(r)
			require.Equal(t, tc.body, got)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestReadPacketHeaderErrors(t *testing.T) {
	for _, packet := range [][]byte{{}, {0x41}, {0xA1, 0x01}, {0xC8}, {0xC8, 0xC1}, {0xC8, 0xFF, 0, 0}} {
		_, _, err := readPacketHeader(bufio.NewReader(bytes.NewReader(packet)))
		require.Error(t, err, "%x", packet)
	}
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
