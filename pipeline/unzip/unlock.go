package unzip

import (
	"context"
	"fmt"
	"io"
)

// unlock finds, for every encrypted entry, the password that opens it
// before anything is extracted: pass 1 of every AES entry, which checks its
// HMAC over the whole ciphertext, and the check byte of every ZipCrypto
// entry. A wrong password or a tampered entry anywhere in the archive
// refuses it before any output exists. The password that opened the
// previous entry is tried first.
func unlock(ctx context.Context, ra io.ReaderAt, entries []entry, passwords []string, pool buffers) error {
	buf := <-pool
	defer func() { pool <- buf }()
	last := 0
	for i := range entries {
		e := &entries[i]
		data := io.NewSectionReader(ra, e.offset, e.size)
		switch e.enc {
		case encAES:
			key, pw, err := authenticateAES(ctx, data, e.aes, passwords, last, buf)
			if err != nil {
				return fmt.Errorf("entry %s: %w", quote(e.name), err)
			}
			e.aesKey, last = key, pw

		case encZipCrypto:
			var header [zipCryptoHeaderLen]byte
			if err := readAt(data, header[:], 0); err != nil {
				return fmt.Errorf("entry %s: %w", quote(e.name), shortRead(err))
			}
			for j := range passwords {
				pw := (last + j) % len(passwords)
				if z, ok := openZipCrypto(e.f, header, passwords[pw]); ok {
					if len(e.zipCrypto) == 0 {
						last = pw
					}
					e.zipCrypto = append(e.zipCrypto, z)
				}
			}
			if len(e.zipCrypto) == 0 {
				return fmt.Errorf("entry %s: %w", quote(e.name), ErrWrongPassword)
			}
		}
	}
	return nil
}
