package unzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawZip writes archives header by header, for the malformed and hostile
// ones no zip writer makes.
type rawZip struct {
	out     bytes.Buffer
	central bytes.Buffer
	entries int
}

// header describes one entry as both headers state it.
type header struct {
	name         string
	flags        uint16
	method       uint16
	crc          uint32
	csize, usize uint32
	extra        []byte
	external     uint32 // external attributes (mode bits << 16 for Unix)
	offset       uint32 // of the local header (central only)
}

// local writes a local header and data, returning the header's offset.
func (z *rawZip) local(h header, data []byte) uint32 {
	off := uint32(z.out.Len())
	var b [30]byte
	binary.LittleEndian.PutUint32(b[0:], sigLocal)
	binary.LittleEndian.PutUint16(b[4:], 20)
	binary.LittleEndian.PutUint16(b[6:], h.flags)
	binary.LittleEndian.PutUint16(b[8:], h.method)
	binary.LittleEndian.PutUint32(b[14:], h.crc)
	binary.LittleEndian.PutUint32(b[18:], h.csize)
	binary.LittleEndian.PutUint32(b[22:], h.usize)
	binary.LittleEndian.PutUint16(b[26:], uint16(len(h.name)))
	binary.LittleEndian.PutUint16(b[28:], uint16(len(h.extra)))
	z.out.Write(b[:])
	z.out.WriteString(h.name)
	z.out.Write(h.extra)
	z.out.Write(data)
	return off
}

// centralEntry adds a central directory header.
func (z *rawZip) centralEntry(h header) {
	var b [46]byte
	binary.LittleEndian.PutUint32(b[0:], sigCentral)
	binary.LittleEndian.PutUint16(b[4:], 3<<8|20) // made by Unix
	binary.LittleEndian.PutUint16(b[6:], 20)
	binary.LittleEndian.PutUint16(b[8:], h.flags)
	binary.LittleEndian.PutUint16(b[10:], h.method)
	binary.LittleEndian.PutUint32(b[16:], h.crc)
	binary.LittleEndian.PutUint32(b[20:], h.csize)
	binary.LittleEndian.PutUint32(b[24:], h.usize)
	binary.LittleEndian.PutUint16(b[28:], uint16(len(h.name)))
	binary.LittleEndian.PutUint16(b[30:], uint16(len(h.extra)))
	external := h.external
	if external == 0 {
		external = 0o100644 << 16
	}
	binary.LittleEndian.PutUint32(b[38:], external)
	binary.LittleEndian.PutUint32(b[42:], h.offset)
	z.central.Write(b[:])
	z.central.WriteString(h.name)
	z.central.Write(h.extra)
	z.entries++
}

// add writes an entry's local and central headers.
func (z *rawZip) add(h header, data []byte) {
	h.offset = z.local(h, data)
	z.centralEntry(h)
}

// bytes appends the central directory and its end record.
func (z *rawZip) bytes() []byte {
	dirOff := z.out.Len()
	z.out.Write(z.central.Bytes())
	var b [22]byte
	binary.LittleEndian.PutUint32(b[0:], sigEnd)
	binary.LittleEndian.PutUint16(b[8:], uint16(z.entries))
	binary.LittleEndian.PutUint16(b[10:], uint16(z.entries))
	binary.LittleEndian.PutUint32(b[12:], uint32(z.central.Len()))
	binary.LittleEndian.PutUint32(b[16:], uint32(dirOff))
	z.out.Write(b[:])
	return z.out.Bytes()
}

// deflated compresses data whole.
func deflated(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// overlapFull is David Fifield's full-overlap construction: several central
// directory entries naming one local header, whose data each expands.
func overlapFull(t testing.TB) []byte {
	body := bytes.Repeat([]byte("0"), 1<<16)
	data := deflated(t, body)
	h := header{name: "kernel", method: zip.Deflate, crc: crc32.ChecksumIEEE(body), csize: uint32(len(data)), usize: uint32(len(body))}
	var z rawZip
	h.offset = z.local(h, data)
	for _, name := range []string{"a.csv", "b.csv", "c.csv"} {
		h.name = name
		z.centralEntry(h)
	}
	return z.bytes()
}

// overlapQuoted is the quoted-overlap construction: the first entry's data
// holds (quotes) the local header and data of the second.
func overlapQuoted(t testing.TB) []byte {
	inner := []byte("hello\n")
	hb := header{name: "b.csv", crc: crc32.ChecksumIEEE(inner), csize: uint32(len(inner)), usize: uint32(len(inner))}
	var q rawZip
	q.local(hb, inner)
	quoted := q.out.Bytes()
	ha := header{name: "a.csv", crc: crc32.ChecksumIEEE(quoted), csize: uint32(len(quoted)), usize: uint32(len(quoted))}
	var z rawZip
	ha.offset = z.local(ha, quoted)
	hb.offset = ha.offset + 30 + uint32(len(ha.name))
	z.centralEntry(ha)
	z.centralEntry(hb)
	return z.bytes()
}

// repeatDeflate returns a deflate stream of chunk repeated n times, written
// to w without holding it: chunk is compressed once, independently and
// flushed to a byte boundary, so its blocks can be repeated as they are,
// then a final empty block ends the stream. It returns the compressed size.
func repeatDeflate(t testing.TB, w io.Writer, chunk []byte, n int) int64 {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	require.NoError(t, err)
	_, err = fw.Write(chunk)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())
	block := bytes.Clone(buf.Bytes())
	buf.Reset()
	fw.Reset(&buf)
	require.NoError(t, fw.Close())
	final := buf.Bytes()

	var total int64
	for range n {
		m, err := w.Write(block)
		require.NoError(t, err)
		total += int64(m)
	}
	m, err := w.Write(final)
	require.NoError(t, err)
	return total + int64(m)
}

// repeatedSize is the compressed size repeatDeflate writes.
func repeatedSize(t testing.TB, chunk []byte, n int) int64 {
	t.Helper()
	return repeatDeflate(t, io.Discard, chunk, n)
}

// repeatedEntry writes a deflated entry of chunk repeated n times to zw.
// declared is the uncompressed size the headers state (0: the true one);
// crc is the CRC-32 they state.
func repeatedEntry(t testing.TB, zw *zip.Writer, name string, chunk []byte, n int, declared uint64, crc uint32) {
	t.Helper()
	if declared == 0 {
		declared = uint64(len(chunk)) * uint64(n)
	}
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(repeatedSize(t, chunk, n)), UncompressedSize64: declared,
	})
	require.NoError(t, err)
	repeatDeflate(t, w, chunk, n)
}

// crcRepeated is the CRC-32 of chunk repeated n times.
func crcRepeated(chunk []byte, n int) uint32 {
	var c uint32
	for range n {
		c = crc32.Update(c, crc32.IEEETable, chunk)
	}
	return c
}
