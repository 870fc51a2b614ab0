package unzip

import (
	"archive/zip"
	"hash/crc32"
)

// Traditional PKWARE encryption (ZipCrypto, APPNOTE.TXT section 6.1): three
// 32-bit keys updated with every plaintext byte, and a 12-byte encrypted
// header whose last byte checks the password. It is broken (known-plaintext
// attacks recover the keys), hence refused unless a feed allows it.
const (
	zipCryptoHeaderLen = 12
	flagEncrypted      = 0x1
	flagDescriptor     = 0x8
	flagStrong         = 0x40
	flagMaskedHeaders  = 0x2000
)

// zipCrypto is the decryption state. It implements cipher.Stream
// (decrypting).
type zipCrypto struct{ k0, k1, k2 uint32 }

func newZipCrypto(password string) *zipCrypto {
	z := &zipCrypto{k0: 0x12345678, k1: 0x23456789, k2: 0x34567890}
	for i := 0; i < len(password); i++ {
		z.update(password[i])
	}
	return z
}

func crc32Byte(crc uint32, b byte) uint32 {
	return crc32.IEEETable[byte(crc)^b] ^ crc>>8
}

func (z *zipCrypto) update(b byte) {
	z.k0 = crc32Byte(z.k0, b)
	z.k1 = (z.k1+z.k0&0xff)*134775813 + 1
	z.k2 = crc32Byte(z.k2, byte(z.k1>>24))
}

// XORKeyStream decrypts src into dst.
func (z *zipCrypto) XORKeyStream(dst, src []byte) {
	for i, c := range src {
		t := z.k2 | 2
		p := c ^ byte(t*(t^1)>>8)
		z.update(p)
		dst[i] = p
	}
}

// openZipCrypto decrypts an entry's 12-byte header with password and
// reports whether its check byte matches: the high byte of the CRC-32, or
// of the modification time when a data descriptor follows the data (the
// CRC was not known when the header was written). A wrong password passes
// with a chance of 1 in 256; the CRC-32 at the end catches it.
func openZipCrypto(f *zip.File, header [zipCryptoHeaderLen]byte, password string) (*zipCrypto, bool) {
	z := newZipCrypto(password)
	z.XORKeyStream(header[:], header[:])
	check := byte(f.CRC32 >> 24)
	if f.Flags&flagDescriptor != 0 {
		check = byte(f.ModifiedTime >> 8) //nolint:staticcheck // the DOS time is what the check byte holds
	}
	return z, header[zipCryptoHeaderLen-1] == check
}
