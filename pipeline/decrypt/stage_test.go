package decrypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// flip returns b with the byte at the middle flipped.
func flip(b []byte) []byte {
	out := bytes.Clone(b)
	out[len(out)/2] ^= 0x20
	return out
}

// flipArmor returns armored text with a base64 character in the middle
// replaced by another valid one.
func flipArmor(b []byte) []byte {
	out := bytes.Clone(b)
	for i := len(out) / 2; i < len(out); i++ {
		if c := out[i]; c >= 'A' && c <= 'Y' {
			out[i] = c + 1
			return out
		}
	}
	panic("no base64 letter in the second half")
}

func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

func TestProcessAccepts(t *testing.T) {
	f := loadFixtures(t)
	both := append(append(openpgp.EntityList{}, f.rsa...), f.ed...)
	tests := []struct {
		name      string
		msg       []byte
		inName    string
		keys      keyring
		require   bool
		wantName  string
		encrypted bool
		signer    string
	}{
		{name: "rsa recipient, zlib", msg: f.msgs["rsa"], keys: keyring{decrypt: f.rsa}, wantName: "orders.csv", encrypted: true},
		{name: "cv25519 recipient, zlib", msg: f.msgs["ed"], keys: keyring{decrypt: f.ed}, wantName: "orders.csv", encrypted: true},
		{name: "uncompressed", msg: f.msgs["uncompressed"], keys: keyring{decrypt: f.ed}, wantName: "orders.csv", encrypted: true},
		{name: "zip compression", msg: f.msgs["zip"], keys: keyring{decrypt: f.ed}, wantName: "orders.csv", encrypted: true},
		{name: "bzip2 compression", msg: f.msgs["bzip2"], keys: keyring{decrypt: f.rsa}, wantName: "orders.csv", encrypted: true},
		{name: "armored", msg: f.msgs["armored"], keys: keyring{decrypt: f.ed}, wantName: "orders.csv", encrypted: true},
		{name: "armored with CRLF line ends", msg: crlf(f.msgs["armored"]), keys: keyring{decrypt: f.ed}, wantName: "orders.csv", encrypted: true},
		{name: "second of two recipients", msg: f.msgs["two-recipients"], keys: keyring{decrypt: both}, wantName: "orders.csv", encrypted: true},
		{name: "hidden recipient", msg: f.msgs["hidden-recipient"], keys: keyring{decrypt: both}, wantName: "orders.csv", encrypted: true},
		{name: "CAST5 cipher", msg: f.msgs["cast5"], keys: keyring{decrypt: f.ed}, wantName: "orders.csv", encrypted: true},
		{name: "not encrypted, not signed", msg: f.msgs["stored"], keys: keyring{decrypt: f.ed}, wantName: "orders.csv"},
		{
			name: "valid signature, required", msg: f.msgs["signed"], keys: keyring{decrypt: f.ed, verify: f.signer}, require: true,
			wantName: "orders.csv", encrypted: true, signer: f.signerFpr,
		},
		{
			name: "valid signature, rsa, uncompressed", msg: f.msgs["signed-rsa"], keys: keyring{decrypt: f.rsa, verify: f.signer},
			wantName: "orders.csv", encrypted: true, signer: f.signerFpr,
		},
		{name: "unknown signer, not required", msg: f.msgs["signed-stranger"], keys: keyring{decrypt: f.ed, verify: f.signer}, wantName: "orders.csv", encrypted: true},
		{name: "signed, not encrypted", msg: f.msgs["signed-only"], keys: keyring{verify: f.signer}, require: true, wantName: "orders.csv", signer: f.signerFpr},
		{name: "no file name", msg: f.msgs["stdin"], inName: "/orders/feed.csv.PGP", keys: keyring{decrypt: f.ed}, wantName: "feed.csv", encrypted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), tc.keys, policy{require: tc.require})
			inName := tc.inName
			if inName == "" {
				inName = "orders.csv.gpg"
			}
			in := e.put(t, inName, tc.msg)
			in.Chain = []string{"zip"}
			outs, err := e.stage.Process(t.Context(), in)
			require.NoError(t, err)
			require.Len(t, outs, 1)
			out := outs[0]

			id := pipeline.ChildID(in.ID, "pgp", "plaintext")
			sum := sha256.Sum256(f.plain)
			require.Equal(t, pipeline.Object{
				ID: id, UploadID: in.UploadID, ParentID: in.ID, Account: "acme", Feed: "orders",
				Name: tc.wantName, Key: in.UploadID + "/" + id, Size: int64(len(f.plain)), SHA256: hex.EncodeToString(sum[:]),
				Chain: []string{"zip", "pgp"}, Encrypted: tc.encrypted, Signer: tc.signer,
			}, out)
			require.Equal(t, f.plain, e.read(t, out.Key))
			require.ElementsMatch(t, []string{in.Key, out.Key}, e.files(t))

			// Redelivered, the same input makes the same output.
			again, err := e.stage.Process(t.Context(), in)
			require.NoError(t, err)
			require.Equal(t, outs, again)
			require.ElementsMatch(t, []string{in.Key, out.Key}, e.files(t))
		})
	}
}

func TestProcessRejects(t *testing.T) {
	f := loadFixtures(t)
	small := DefaultConfig()
	small.MaxOutputBytes = 100 << 10
	armoredKey := []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ/8=\n-----END PGP PUBLIC KEY BLOCK-----\n")
	half := func(b []byte) []byte { return b[:len(b)/2] }
	tests := []struct {
		name    string
		msg     []byte
		cfg     *Config
		keys    keyring
		require bool
		want    error
		text    string
	}{
		{name: "encrypted to another key", msg: f.msgs["other"], keys: keyring{decrypt: f.ed}, want: ErrNoMatchingKey,
			text: "no matching decryption key: the file is encrypted to key " + f.otherSub + ", not to this account's key " + f.edSubID},
		{name: "encrypted to another, hidden key", msg: f.msgs["hidden-other"], keys: keyring{decrypt: f.ed}, want: ErrNoMatchingKey,
			text: "no matching decryption key: the file is encrypted to a hidden recipient, not to this account's key " + f.edSubID},
		{name: "byte flipped in the middle, CAST5", msg: flip(f.msgs["cast5"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "modified or damaged"},
		{name: "truncated, CAST5", msg: half(f.msgs["cast5"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "the file is truncated"},
		{name: "account without keys", msg: f.msgs["ed"], keys: keyring{}, want: ErrNoMatchingKey, text: "this account has no OpenPGP decryption key"},
		{name: "byte flipped in the middle", msg: flip(f.msgs["ed"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "modified or damaged"},
		{name: "byte flipped in the middle, uncompressed", msg: flip(f.msgs["uncompressed"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "modified or damaged"},
		{name: "byte flipped in the middle, rsa", msg: flip(f.msgs["signed-rsa"]), keys: keyring{decrypt: f.rsa, verify: f.signer}, want: ErrIntegrity, text: "modified or damaged"},
		{name: "byte flipped in the middle, armored", msg: flipArmor(f.msgs["armored"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "modified or damaged"},
		{name: "truncated", msg: half(f.msgs["ed"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "the file is truncated"},
		{name: "truncated, uncompressed", msg: half(f.msgs["uncompressed"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "the file is truncated"},
		{name: "truncated, armored", msg: half(f.msgs["armored"]), keys: keyring{decrypt: f.ed}, want: ErrIntegrity, text: "the file is truncated"},
		{name: "truncated in the key packet", msg: f.msgs["rsa"][:100], keys: keyring{decrypt: f.rsa}, want: ErrIntegrity, text: "the file is truncated"},
		{name: "symmetric", msg: f.msgs["symmetric"], keys: keyring{decrypt: f.ed}, want: ErrPassphraseOnly, text: "encrypted with a passphrase only"},
		{name: "legacy packet without MDC", msg: f.msgs["no-mdc"], keys: keyring{decrypt: f.rsa}, want: ErrNoIntegrity, text: "without integrity protection"},
		{name: "compression bomb", msg: f.msgs["bomb"], keys: keyring{decrypt: f.ed}, want: ErrExpansion, text: "expands more than 200 times"},
		{name: "too large", msg: f.msgs["uncompressed"], cfg: &small, keys: keyring{decrypt: f.ed}, want: ErrTooLarge, text: "exceeds 102400 bytes (pipeline.decrypt.max_output_bytes)"},
		{name: "too large, compressed", msg: f.msgs["ed"], cfg: &small, keys: keyring{decrypt: f.ed}, want: ErrTooLarge, text: "exceeds 102400 bytes"},
		{name: "unknown signer, required", msg: f.msgs["signed-stranger"], keys: keyring{decrypt: f.ed, verify: f.signer}, require: true, want: ErrUnknownSigner,
			text: "signed by key " + f.stranger + ", which is not among the account's signature keys"},
		{name: "unknown signer, required, no verification keys", msg: f.msgs["signed"], keys: keyring{decrypt: f.ed}, require: true, want: ErrUnknownSigner, text: "signed by key"},
		{name: "not signed, required", msg: f.msgs["ed"], keys: keyring{decrypt: f.ed, verify: f.signer}, require: true, want: ErrSignatureRequired, text: "this one is not signed"},
		{name: "bad signature", msg: flip(f.msgs["signed-only"]), keys: keyring{verify: f.signer}, want: ErrBadSignature, text: "is not valid"},
		{name: "not OpenPGP", msg: f.plain, keys: keyring{decrypt: f.ed}, want: ErrNotOpenPGP, text: "neither a binary OpenPGP message nor an ASCII-armored one"},
		{name: "empty", msg: nil, keys: keyring{decrypt: f.ed}, want: ErrNotOpenPGP, text: "the file is empty"},
		{name: "armored key", msg: armoredKey, keys: keyring{decrypt: f.ed}, want: ErrNotOpenPGP, text: `ASCII-armored "PGP PUBLIC KEY BLOCK"`},
		{name: "binary key", msg: []byte{0x99, 0x00, 0x01, 0x04}, keys: keyring{decrypt: f.ed}, want: ErrNotOpenPGP, text: "starts with a public key packet"},
		{name: "corrupt armor", msg: []byte("-----BEGIN PGP MESSAGE-----\n\nhQ*&^%\n-----END PGP MESSAGE-----\n"), keys: keyring{decrypt: f.ed}, want: ErrNotOpenPGP, text: "armor is corrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			e := newEnv(t, cfg, tc.keys, policy{require: tc.require})
			in := e.put(t, "orders.csv.gpg", tc.msg)
			outs, err := e.stage.Process(t.Context(), in)
			require.Error(t, err)
			require.Nil(t, outs)
			require.ErrorIs(t, err, tc.want)
			require.True(t, pipeline.IsPermanent(err), "permanent: %v", err)
			require.Contains(t, err.Error(), tc.text)
			require.True(t, strings.HasPrefix(err.Error(), `decrypt "orders.csv.gpg": `+tc.want.Error()), err.Error())
			require.Equal(t, []string{in.Key}, e.files(t), "nothing written but the input")
			t.Log(err)
		})
	}
}

func TestNoKeyErrorListsKeys(t *testing.T) {
	f := loadFixtures(t)
	e := newEnv(t, DefaultConfig(), keyring{decrypt: append(append(openpgp.EntityList{}, f.rsa...), f.ed...)}, policy{})
	_, err := e.stage.Process(t.Context(), e.put(t, "x.gpg", f.msgs["other"]))
	var nk *NoKeyError
	require.ErrorAs(t, err, &nk)
	require.Equal(t, []string{f.otherSub}, nk.Recipients)
	require.ElementsMatch(t, []string{f.rsaSubID, f.edSubID}, nk.AccountKeys)
	require.False(t, nk.Passphrase)
}

func TestProcessInternalErrors(t *testing.T) {
	f := loadFixtures(t)
	boom := errors.New("boom")
	tests := []struct {
		name string
		keys keyring
		pol  policy
		in   func(e *env) pipeline.Object
		ctx  func(context.Context) context.Context
		want error
	}{
		{name: "missing blob", keys: keyring{decrypt: f.ed}, in: func(e *env) pipeline.Object {
			in := e.put(t, "x.gpg", f.msgs["ed"])
			in.Key += "-gone"
			return in
		}, want: fs.ErrNotExist},
		{name: "keyring fails", keys: keyring{err: boom}, want: boom},
		{name: "policy fails", keys: keyring{decrypt: f.ed}, pol: policy{err: boom}, want: boom},
		{name: "cancelled", keys: keyring{decrypt: f.ed}, ctx: func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx
		}, want: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), tc.keys, tc.pol)
			in := e.put(t, "x.gpg", f.msgs["ed"])
			if tc.in != nil {
				in = tc.in(e)
			}
			ctx := t.Context()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			_, err := e.stage.Process(ctx, in)
			require.ErrorIs(t, err, tc.want)
			require.False(t, pipeline.IsPermanent(err), "retried: %v", err)
		})
	}
}

func TestLockedKeyIsAnInternalError(t *testing.T) {
	f := loadFixtures(t)
	locked, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredSecret(t, f.ed[0])))
	require.NoError(t, err)
	require.NoError(t, locked[0].EncryptPrivateKeys([]byte("secret"), nil))
	e := newEnv(t, DefaultConfig(), keyring{decrypt: locked}, policy{})
	_, err = e.stage.Process(t.Context(), e.put(t, "x.gpg", f.msgs["ed"]))
	require.ErrorContains(t, err, "is locked", "%v", err)
	require.False(t, pipeline.IsPermanent(err))
}

func TestNewValidates(t *testing.T) {
	bad := DefaultConfig()
	bad.MaxExpansionRatio = 0
	_, err := New(bad, nil, keyring{}, policy{}, nil)
	require.ErrorContains(t, err, "pipeline.decrypt.max_expansion_ratio")
	bad = DefaultConfig()
	bad.MaxOutputBytes = 0
	_, err = New(bad, nil, keyring{}, policy{}, nil)
	require.ErrorContains(t, err, "pipeline.decrypt.max_output_bytes")
	_, err = New(DefaultConfig(), nil, keyring{}, policy{}, nil)
	require.ErrorContains(t, err, "blobs, keyring and policy are required")
}

// failingBlobs is a blob.Dir whose writers fail after 64 KiB.
type failingBlobs struct{ *blob.Dir }

func (f failingBlobs) Create(ctx context.Context, key string) (pipeline.BlobWriter, error) {
	w, err := f.Dir.Create(ctx, key)
	return &failingWriter{BlobWriter: w}, err
}

type failingWriter struct {
	pipeline.BlobWriter
	n int
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n += len(p); w.n > 64<<10 {
		return 0, errDiskFull
	}
	return w.BlobWriter.Write(p)
}

func TestBlobWriteFailureIsRetried(t *testing.T) {
	f := loadFixtures(t)
	e := newEnv(t, DefaultConfig(), keyring{decrypt: f.ed}, policy{})
	s, err := New(DefaultConfig(), failingBlobs{e.blobs}, keyring{decrypt: f.ed}, policy{}, nil)
	require.NoError(t, err)
	in := e.put(t, "x.gpg", f.msgs["ed"])
	_, err = s.Process(t.Context(), in)
	require.ErrorIs(t, err, errDiskFull)
	require.False(t, pipeline.IsPermanent(err))
	require.Equal(t, []string{in.Key}, e.files(t), "the output was aborted")
}

func TestProcessConcurrently(t *testing.T) {
	f := loadFixtures(t)
	e := newEnv(t, DefaultConfig(), keyring{decrypt: append(append(openpgp.EntityList{}, f.rsa...), f.ed...), verify: f.signer}, policy{})
	names := []string{"rsa", "ed", "signed", "signed-rsa", "uncompressed", "armored", "two-recipients", "hidden-recipient"}
	var ins []pipeline.Object
	for _, name := range names {
		in := e.put(t, name+".gpg", f.msgs[name])
		in.ID = pipeline.ChildID(in.UploadID, "test", name) // distinct outputs
		ins = append(ins, in)
	}
	var g errgroup.Group
	for _, in := range ins {
		g.Go(func() error {
			outs, err := e.stage.Process(t.Context(), in)
			if err == nil && outs[0].Size != int64(len(f.plain)) {
				err = fmt.Errorf("%s: %d bytes", in.Name, outs[0].Size)
			}
			return err
		})
	}
	require.NoError(t, g.Wait())
}
