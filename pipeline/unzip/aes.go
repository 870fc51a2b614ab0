package unzip

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/pbkdf2"
)

// WinZip AES (https://www.winzip.com/en/support/aes-encryption/): an entry
// of method 99 with an extra field 0x9901 holding the vendor version (AE-1
// keeps the CRC-32, AE-2 zeroes it), the key strength and the real method.
// Its data is salt, a 2-byte password verifier, the AES-CTR ciphertext and
// a 10-byte HMAC-SHA1 of the ciphertext. Keys come from PBKDF2-HMAC-SHA1
// with 1000 iterations.
const (
	methodAES      = 99
	extraAES       = 0x9901
	aesIterations  = 1000
	aesVerifierLen = 2
	aesMACLen      = 10
)

// aesParams is the 0x9901 extra field of an entry.
type aesParams struct {
	version  uint16 // 1 (AE-1) or 2 (AE-2)
	strength byte   // 1, 2, 3: 128, 192, 256 bits
	method   uint16 // the compression method of the plaintext
}

func (p aesParams) keyLen() int  { return 8 + 8*int(p.strength) }
func (p aesParams) saltLen() int { return 4 + 4*int(p.strength) }

// overhead is what the encryption adds to the compressed data.
func (p aesParams) overhead() int64 { return int64(p.saltLen() + aesVerifierLen + aesMACLen) }

// parseAESExtra finds and checks the 0x9901 field among extra fields.
func parseAESExtra(extra []byte) (aesParams, error) {
	for len(extra) >= 4 {
		id, n := binary.LittleEndian.Uint16(extra), int(binary.LittleEndian.Uint16(extra[2:]))
		extra = extra[4:]
		if n > len(extra) {
			break
		}
		field := extra[:n]
		extra = extra[n:]
		if id != extraAES {
			continue
		}
		if n < 7 || field[2] != 'A' || field[3] != 'E' {
			return aesParams{}, fmt.Errorf("its WinZip AES field is malformed: %w", ErrCorruptDirectory)
		}
		p := aesParams{
			version:  binary.LittleEndian.Uint16(field),
			strength: field[4],
			method:   binary.LittleEndian.Uint16(field[5:]),
		}
		if p.version != 1 && p.version != 2 {
			return aesParams{}, fmt.Errorf("WinZip AES version %d: %w", p.version, ErrUnsupportedEncryption)
		}
		if p.strength < 1 || p.strength > 3 {
			return aesParams{}, fmt.Errorf("WinZip AES key strength %d: %w", p.strength, ErrUnsupportedEncryption)
		}
		return p, nil
	}
	return aesParams{}, fmt.Errorf("it is WinZip AES-encrypted but lacks its 0x9901 field: %w", ErrCorruptDirectory)
}

// aesKeys derives the encryption key, the authentication key and the
// password verifier from a password and an entry's salt.
func aesKeys(password string, salt []byte, keyLen int) (enc, auth, verifier []byte) {
	k := pbkdf2.Key([]byte(password), salt, aesIterations, 2*keyLen+aesVerifierLen, sha1.New)
	return k[:keyLen], k[keyLen : 2*keyLen], k[2*keyLen:]
}

// authenticateAES finds which of passwords opens the AES entry whose data
// (salt to MAC) is data, and checks the HMAC over the whole ciphertext with
// it: this is pass 1, and no plaintext exists yet. It returns the AES key
// and the index of the password; first is tried first (the one that opened
// the previous entry). Wrong passwords are told apart by the verifier; a
// verifier that matches with an HMAC that does not is ErrIntegrity.
func authenticateAES(ctx context.Context, data *io.SectionReader, p aesParams, passwords []string, first int, buf []byte) ([]byte, int, error) {
	saltLen := p.saltLen()
	size := data.Size()
	if size < p.overhead() {
		return nil, 0, fmt.Errorf("its encrypted data is %d bytes, shorter than its salt and MAC: %w", size, ErrCorruptEntry)
	}
	head := make([]byte, saltLen+aesVerifierLen)
	if err := readAt(data, head, 0); err != nil {
		return nil, 0, shortRead(err)
	}
	var mac [aesMACLen]byte
	if err := readAt(data, mac[:], size-aesMACLen); err != nil {
		return nil, 0, shortRead(err)
	}
	salt, verifier := head[:saltLen], head[saltLen:]
	matched := false
	for i := range passwords {
		pw := (first + i) % len(passwords)
		enc, auth, v := aesKeys(passwords[pw], salt, p.keyLen())
		if subtle.ConstantTimeCompare(v, verifier) != 1 {
			continue
		}
		matched = true
		ok, err := checkMAC(ctx, io.NewSectionReader(data, int64(len(head)), size-int64(len(head))-aesMACLen), auth, mac[:], buf)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return enc, pw, nil
		}
	}
	if matched {
		return nil, 0, fmt.Errorf("its HMAC does not match: %w", ErrIntegrity)
	}
	return nil, 0, ErrWrongPassword
}

// checkMAC computes HMAC-SHA1 over ciphertext and compares its first 10
// bytes with mac.
func checkMAC(ctx context.Context, ciphertext io.Reader, key, mac, buf []byte) (bool, error) {
	h := hmac.New(sha1.New, key)
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n, err := ciphertext.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
	}
	return hmac.Equal(h.Sum(nil)[:aesMACLen], mac), nil
}

// winzipCTR is AES in counter mode as WinZip uses it: the counter is a
// 128-bit little-endian integer starting at 1, where crypto/cipher's CTR
// counts big-endian. It implements cipher.Stream.
type winzipCTR struct {
	block   cipher.Block
	counter [aes.BlockSize]byte
	stream  [64 * aes.BlockSize]byte // key stream
	used    int                      // bytes of stream consumed
}

func newWinzipCTR(key []byte) (*winzipCTR, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	c := &winzipCTR{block: block}
	c.used = len(c.stream)
	return c, nil
}

// refill computes the next blocks of key stream.
func (c *winzipCTR) refill() {
	for off := 0; off < len(c.stream); off += aes.BlockSize {
		for i := range c.counter {
			c.counter[i]++
			if c.counter[i] != 0 {
				break
			}
		}
		c.block.Encrypt(c.stream[off:off+aes.BlockSize], c.counter[:])
	}
	c.used = 0
}

// XORKeyStream XORs src with the key stream into dst.
func (c *winzipCTR) XORKeyStream(dst, src []byte) {
	for len(src) > 0 {
		if c.used == len(c.stream) {
			c.refill()
		}
		n := subtle.XORBytes(dst, src, c.stream[c.used:])
		c.used += n
		dst, src = dst[n:], src[n:]
	}
}
