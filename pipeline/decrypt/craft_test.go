package decrypt

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

// Messages GnuPG does not make, built packet by packet with go-crypto.

// armoredSecret returns the armored secret key of e.
func armoredSecret(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.SerializePrivateWithoutSigning(w, nil))
	require.NoError(t, w.Close())
	return b.Bytes()
}

// nopCloser makes a bytes.Buffer an io.WriteCloser.
type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// literal returns a literal data packet of data.
func literal(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := packet.SerializeLiteral(nopCloser{&b}, true, name, 0)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// compressed returns a zlib compressed data packet holding packets.
func compressed(t testing.TB, packets []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := packet.SerializeCompressed(nopCloser{&b}, packet.CompressionZLIB, &packet.CompressionConfig{Level: 9})
	require.NoError(t, err)
	_, err = w.Write(packets)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// seal encrypts the packets as they are (SEIPD v1 with AES-256, or v2 with
// AES-256-OCB if aead) to the encryption key of to.
func seal(t testing.TB, to *openpgp.Entity, packets []byte, aead bool) []byte {
	t.Helper()
	return sealAs(t, to, nil, packets, aead, packet.CipherAES256)
}

// sealAs is seal with the packets in before first and cipher announced in
// the session key packet (the data is AES-256 whatever it says).
func sealAs(t testing.TB, to *openpgp.Entity, before, packets []byte, aead bool, cipher packet.CipherFunction) []byte {
	t.Helper()
	b := bytes.NewBuffer(bytes.Clone(before))
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	enc, ok := to.EncryptionKey(time.Now(), nil)
	require.True(t, ok)
	require.NoError(t, packet.SerializeEncryptedKeyAEAD(b, enc.PublicKey, cipher, aead, key, nil))
	w, err := packet.SerializeSymmetricallyEncrypted(b, packet.CipherAES256, aead,
		packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeOCB}, key, &packet.Config{AEADConfig: &packet.AEADConfig{}})
	require.NoError(t, err)
	_, err = w.Write(packets)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// flipAt returns b with the byte at i flipped.
func flipAt(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x20
	return out
}

// keyPacket returns a session key packet for the encryption key of to.
func keyPacket(t testing.TB, to *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	enc, ok := to.EncryptionKey(time.Now(), nil)
	require.True(t, ok)
	require.NoError(t, packet.SerializeEncryptedKey(&b, enc.PublicKey, packet.CipherAES256, make([]byte, 32), nil))
	return b.Bytes()
}

// onePassSignatures returns n one-pass signature packets.
func onePassSignatures(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	for range n {
		ops := &packet.OnePassSignature{Version: 3, SigType: packet.SigTypeBinary, Hash: crypto.SHA256, PubKeyAlgo: packet.PubKeyAlgoEdDSA, KeyId: 0x1234}
		require.NoError(t, ops.Serialize(&b))
	}
	return b.Bytes()
}

// unknownPacket returns a non-critical packet of an unknown type (tag 60)
// holding n zero bytes.
func unknownPacket(n int) []byte {
	return append([]byte{0xC0 | 60, 0xFF, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, n)...)
}

// signEncrypt encrypts plain with go-crypto to to and hidden, signed by signer.
func signEncrypt(t testing.TB, to, hidden []*openpgp.Entity, signer *openpgp.Entity, plain []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := openpgp.Encrypt(&b, to, hidden, []*openpgp.Entity{signer}, &openpgp.FileHints{FileName: "orders.csv"}, nil)
	require.NoError(t, err)
	_, err = w.Write(plain)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestProcessCrafted(t *testing.T) {
	f := loadFixtures(t)
	acct := f.ed[0]
	content := []byte("id,name\n1,a\n")
	lit := literal(t, "orders.csv", content)
	ed25519 := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	signer, err := openpgp.NewEntity("Go Signer", "", "go@customer.test", ed25519)
	require.NoError(t, err)
	other, err := openpgp.NewEntity("Go Other", "", "other@else.test", ed25519)
	require.NoError(t, err)
	signerPublic := openpgp.EntityList{signer}
	aead := seal(t, acct, compressed(t, lit), true)

	tests := []struct {
		name     string
		msg      []byte
		verify   openpgp.EntityList
		require  bool
		want     error  // nil: accepted
		text     string // in the error
		wantName string // of the output, when accepted
		ratio    int64  // max_expansion_ratio if not 0
	}{
		{name: "SEIPD v2 (AEAD)", msg: aead},
		{name: "SEIPD v1, go-crypto", msg: seal(t, acct, lit, false)},
		{name: "signed with intended recipient", msg: signEncrypt(t, []*openpgp.Entity{acct}, nil, signer, content), verify: signerPublic, require: true},
		{name: "SEIPD v2 tampered", msg: flipAt(aead, len(aead)-40), want: ErrIntegrity, text: "modified or damaged"},
		{name: "SEIPD v2 truncated", msg: aead[:len(aead)-20], want: ErrIntegrity},
		{name: "signed for another recipient", msg: signEncrypt(t, []*openpgp.Entity{other}, []*openpgp.Entity{acct}, signer, content), verify: signerPublic,
			want: ErrBadSignature, text: "other intended recipients"},
		{name: "nested compression", msg: seal(t, acct, compressed(t, compressed(t, lit)), false), want: ErrUnsupported, text: "nested compression"},
		{name: "unknown compression algorithm", msg: seal(t, acct, []byte{0xC8, 0x02, 99, 0}, false), want: ErrUnsupported, text: "compression algorithm 99"},
		{name: "corrupt compressed data", msg: seal(t, acct, append([]byte{0xC8, 0x09, 2}, "garbage!"...), false), want: ErrMalformed, text: "the compressed data is corrupt"},
		{name: "not packets inside", msg: seal(t, acct, []byte("hello, world"), false), want: ErrMalformed},
		{name: "empty inside", msg: seal(t, acct, nil, false), want: ErrMalformed, text: "holds no data"},
		{name: "packets after the compressed packet", msg: seal(t, acct, append(compressed(t, lit), lit...), false), want: ErrMalformed, text: "after the end of the message"},
		{name: "packets after the encrypted data", msg: append(seal(t, acct, lit, false), lit...), want: ErrMalformed, text: "after the encrypted data"},
		{name: "encrypted inside encrypted", msg: seal(t, acct, seal(t, acct, lit, false), false), want: ErrUnsupported, text: "encrypted message inside"},
		{name: "one-pass signature flood", msg: seal(t, acct, compressed(t, append(onePassSignatures(t, 100_000), lit...)), false),
			want: ErrMalformed, text: "more than 64 KiB of packets before the content"},
		{name: "unknown packets before the content", msg: seal(t, acct, compressed(t, append(unknownPacket(8<<20), lit...)), false),
			want: ErrMalformed, text: "more than 64 KiB of packets before the content"},
		{name: "unknown packets after the content", msg: seal(t, acct, compressed(t, append(lit, unknownPacket(8<<20)...)), false),
			want: ErrExpansion, text: "refused as a compression bomb"},
		{name: "unknown packets after the content, any ratio", msg: seal(t, acct, compressed(t, append(lit, unknownPacket(8<<20)...)), false),
			ratio: 1_000_000, want: ErrMalformed, text: "too many packets around the content"},
		{name: "marker and unknown packets first", msg: sealAs(t, acct, append([]byte{0xCA, 3, 'P', 'G', 'P'}, unknownPacket(10)...), lit, false, packet.CipherAES256)},
		{name: "padding after the encrypted data", msg: append(seal(t, acct, lit, false), 0xD5, 4, 0, 0, 0, 0)},
		// A session key of an unknown cipher is not told apart from one
		// that does not decrypt: that would be a padding oracle.
		{name: "unsupported cipher announced", msg: sealAs(t, acct, nil, lit, false, packet.CipherFunction(1)), want: ErrIntegrity, text: "modified or damaged"},
		{name: "literal data among the key packets", msg: slicesConcat(keyPacket(t, acct), lit), want: ErrMalformed, text: "a literal data packet among the session key packets"},
		{name: "only a key packet", msg: keyPacket(t, acct), want: ErrIntegrity, text: "the file is truncated"},
		{name: "unknown encrypted data version", msg: slicesConcat(keyPacket(t, acct), []byte{0xD2, 2, 9, 0}), want: ErrUnsupported, text: "unknown SymmetricallyEncrypted version"},
		{name: "armor header too long", msg: []byte("-----BEGIN PGP MESSAGE-----\nComment: " + strings.Repeat("a", 70<<10) + "\n\nhQ==\n-----END PGP MESSAGE-----\n"),
			want: ErrNotOpenPGP, text: "header is longer than 64 KiB"},
		{name: "armor without body", msg: []byte("-----BEGIN PGP MESSAGE-----\n"), want: ErrNotOpenPGP, text: "no complete -----BEGIN line"},
		{name: "file name with a folder", msg: seal(t, acct, literal(t, "../../etc/cron.d/x", content), false), wantName: "orders.csv"},
		{name: "file name with a backslash", msg: seal(t, acct, literal(t, `C:\x.csv`, content), false), wantName: "orders.csv"},
		{name: "file name with a control character", msg: seal(t, acct, literal(t, "x\n.csv", content), false), wantName: "orders.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.ratio != 0 {
				cfg.MaxExpansionRatio = tc.ratio
			}
			e := newEnv(t, cfg, keyring{decrypt: f.ed, verify: tc.verify}, policy{require: tc.require})
			in := e.put(t, "orders.csv.gpg", tc.msg)
			start := time.Now()
			outs, err := e.stage.Process(t.Context(), in)
			require.Less(t, time.Since(start), 5*time.Second)
			if tc.want == nil {
				require.NoError(t, err)
				require.Equal(t, content, e.read(t, outs[0].Key))
				if tc.wantName != "" {
					require.Equal(t, tc.wantName, outs[0].Name)
				}
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.True(t, pipeline.IsPermanent(err), "permanent: %v", err)
			require.Contains(t, err.Error(), tc.text)
			require.Equal(t, []string{in.Key}, e.files(t))
			t.Log(err)
		})
	}
}

// TestMDCReaderMatchesGoCrypto decrypts SEIPD v1 bodies of every length
// around the block and chunk boundaries with the stage's reader.
func TestMDCReaderMatchesGoCrypto(t *testing.T) {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	for _, n := range []int{0, 1, 15, 16, 17, 100, cfbChunk - 40, cfbChunk - 18, cfbChunk, cfbChunk + 1, 3*cfbChunk + 7} {
		plain := make([]byte, n)
		_, err := rand.Read(plain)
		require.NoError(t, err)
		var b bytes.Buffer
		w, err := packet.SerializeSymmetricallyEncrypted(&b, packet.CipherAES256, false, packet.CipherSuite{}, key, nil)
		require.NoError(t, err)
		_, err = w.Write(plain)
		require.NoError(t, err)
		require.NoError(t, w.Close())

		p, err := packet.Read(bytes.NewReader(b.Bytes()))
		require.NoError(t, err)
		r, err := newMDCReader(p.(*packet.SymmetricallyEncrypted).Contents, key)
		require.NoError(t, err)
		got, err := io.ReadAll(iotestOneByteAtATime(r, n))
		require.NoError(t, err, "length %d", n)
		require.Equal(t, plain, got, "length %d", n)
		require.NoError(t, r.Close())
	}
}

// iotestOneByteAtATime reads small inputs a byte at a time, to exercise the
// reader's hold-back, and large ones in big reads.
func iotestOneByteAtATime(r io.Reader, n int) io.Reader {
	if n > 1000 {
		return r
	}
	return oneByte{r}
}

type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
