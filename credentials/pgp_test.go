package credentials

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"
)

// requireInvalid asserts that err is a *ValidationError for field with reason.
func requireInvalid(t *testing.T, err error, field, reason string) {
	t.Helper()
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, field, verr.Field)
	require.Equal(t, reason, verr.Reason)
}

func TestGeneratePGPKeyGnuPGInterop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		algorithm string
		gpgAlgos  []string // pub and sub algorithm fields of gpg --with-colons
		keyAlgo   string
		bits      int
	}{
		{name: "default", algorithm: "", gpgAlgos: []string{"22", "18"}, keyAlgo: "ed25519", bits: 256},
		{name: "curve25519", algorithm: "curve25519", gpgAlgos: []string{"22", "18"}, keyAlgo: "ed25519", bits: 256},
		{name: "rsa-3072", algorithm: "rsa-3072", gpgAlgos: []string{"1", "1"}, keyAlgo: "rsa", bits: 3072},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGnuPG(t)
			now := time.Now()
			private, key, err := GeneratePGPKey("Acme Uploads", "uploads@acme.test", tc.algorithm, now)
			require.NoError(t, err)
			require.Contains(t, private, "-----BEGIN PGP PRIVATE KEY BLOCK-----")
			require.Contains(t, key.Public, "-----BEGIN PGP PUBLIC KEY BLOCK-----")
			require.Equal(t, 4, key.Version)
			require.Equal(t, tc.keyAlgo, key.Algorithm)
			require.Equal(t, tc.bits, key.Bits)
			require.Equal(t, []string{"Acme Uploads <uploads@acme.test>"}, key.UserIDs)
			require.Len(t, key.KeyIDs, 2)
			require.Len(t, key.Fingerprint, 40)
			require.Equal(t, key.Fingerprint[24:], key.KeyIDs[0])
			require.False(t, key.Protected)
			require.True(t, key.Expires.IsZero())
			require.Equal(t, now.Unix(), key.Created.Unix())

			// GnuPG imports the public key and sees what we generated.
			g.Must(t, []byte(key.Public), "--import")
			colons := string(g.Must(t, nil, "--with-colons", "--fixed-list-mode", "--list-keys", key.Fingerprint))
			var algos []string
			for line := range strings.Lines(colons) {
				if f := strings.Split(line, ":"); f[0] == "pub" || f[0] == "sub" {
					require.NotEqual(t, "e", f[1], "gpg sees an expired key: %s", colons)
					require.NotEqual(t, "r", f[1], "gpg sees a revoked key: %s", colons)
					algos = append(algos, f[3])
				}
			}
			require.Equal(t, tc.gpgAlgos, algos, colons)

			// GnuPG encrypts to it and Go decrypts with the generated key.
			plaintext := bytes.Repeat([]byte("id,amount\n1,42\n"), 1000)
			in := filepath.Join(t.TempDir(), "report.csv")
			require.NoError(t, os.WriteFile(in, plaintext, 0o600))
			ciphertext := g.Must(t, nil, "--trust-model", "always", "--encrypt", "-r", key.Fingerprint, "--output", "-", in)
			require.Equal(t, plaintext, decryptWith(t, private, ciphertext))

			// GnuPG also accepts the private key and decrypts with it.
			g.Must(t, []byte(private), "--passphrase", "", "--import")
			require.Equal(t, plaintext, g.Must(t, ciphertext, "--passphrase", "", "--decrypt"))
		})
	}
}

// decryptWith decrypts an OpenPGP message with an armored private key.
func decryptWith(t *testing.T, armoredPrivate string, ciphertext []byte) []byte {
	t.Helper()
	keyring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armoredPrivate))
	require.NoError(t, err)
	md, err := openpgp.ReadMessage(bytes.NewReader(ciphertext), keyring, nil, nil)
	require.NoError(t, err)
	plaintext, err := io.ReadAll(md.UnverifiedBody)
	require.NoError(t, err)
	return plaintext
}

func TestGeneratePGPKeyRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, uidName, email, algorithm string
		field, reason                   string
	}{
		{name: "unknown algorithm", uidName: "a", email: "a@b.test", algorithm: "rsa-1024", field: "algorithm", reason: `algorithm must be "curve25519" or "rsa-3072"`},
		{name: "empty name", uidName: " ", email: "a@b.test", field: "user_id", reason: "the name must not be empty, and neither name nor email may contain ( ) < > or control characters"},
		{name: "angle brackets", uidName: "a <x@y>", email: "a@b.test", field: "user_id", reason: "the name must not be empty, and neither name nor email may contain ( ) < > or control characters"},
		{name: "newline in email", uidName: "a", email: "a@b.test\n", field: "user_id", reason: "the name must not be empty, and neither name nor email may contain ( ) < > or control characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := GeneratePGPKey(tc.uidName, tc.email, tc.algorithm, time.Now())
			requireInvalid(t, err, tc.field, tc.reason)
		})
	}
}

func TestParsePGPPrivateKeyGnuPG(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	now := time.Now()
	tests := []struct {
		name       string
		armored    string
		passphrase string
		at         time.Time // zero: now
		algorithm  string
		bits       int
		protected  bool
		userID     string
		expires    time.Time
	}{
		{name: "ed25519", armored: keys.edPlain, algorithm: "ed25519", bits: 256, userID: "Ed Plain <ed@example.test>"},
		{name: "ed25519 CRLF", armored: strings.ReplaceAll(keys.edPlain, "\n", "\r\n"), algorithm: "ed25519", bits: 256, userID: "Ed Plain <ed@example.test>"},
		{name: "ed25519 before expiry", armored: keys.expiredSecret, at: time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC), algorithm: "ed25519", bits: 256, userID: "Expired <old@example.test>", expires: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)},
		{name: "ed25519 primary secret stubbed", armored: keys.edSubkeysOnly, algorithm: "ed25519", bits: 256, userID: "Ed Plain <ed@example.test>"},
		{name: "ed25519 with unneeded passphrase", armored: keys.edPlain, passphrase: "whatever", algorithm: "ed25519", bits: 256, userID: "Ed Plain <ed@example.test>"},
		{name: "ed25519 protected", armored: keys.edProtected, passphrase: gpgPassphrase, algorithm: "ed25519", bits: 256, protected: true, userID: "Ed Protected <edp@example.test>"},
		{name: "rsa3072", armored: keys.rsaPlain, algorithm: "rsa", bits: 3072, userID: "RSA Plain <rsa@example.test>"},
		{name: "rsa3072 protected", armored: keys.rsaProtected, passphrase: gpgPassphrase, algorithm: "rsa", bits: 3072, protected: true, userID: "RSA Protected <rsap@example.test>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			at := tc.at
			if at.IsZero() {
				at = now
			}
			key, err := ParsePGPPrivateKey(tc.armored, tc.passphrase, at)
			require.NoError(t, err)
			require.Equal(t, tc.expires, key.Expires)
			require.Equal(t, tc.algorithm, key.Algorithm)
			require.Equal(t, tc.bits, key.Bits)
			require.Equal(t, tc.protected, key.Protected)
			require.Equal(t, []string{tc.userID}, key.UserIDs)
			require.Equal(t, 4, key.Version)
			require.Len(t, key.KeyIDs, 2)
			require.NotContains(t, key.Public, "PRIVATE")

			// The public part is what gpg --export gives, as far as keys go.
			pub, err := ParsePGPPublicKey(key.Public, "encrypt", at)
			require.NoError(t, err)
			require.Equal(t, key.Fingerprint, pub.Fingerprint)
			require.Equal(t, key.KeyIDs, pub.KeyIDs)
		})
	}
	t.Run("fingerprint matches gpg", func(t *testing.T) {
		t.Parallel()
		ed, err := ParsePGPPrivateKey(keys.edPlain, "", now)
		require.NoError(t, err)
		require.Equal(t, keys.edFpr, ed.Fingerprint)
		rsa, err := ParsePGPPrivateKey(keys.rsaPlain, "", now)
		require.NoError(t, err)
		require.Equal(t, keys.rsaFpr, rsa.Fingerprint)
	})
}

func TestParsePGPPrivateKeyRejects(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	now := time.Now()
	_, weakRSA := goMadeKeys(t, now)
	subkeyRevoked := subkeyRevokedKey(t, now)
	subkeyPublicOnly, subkeyID := subkeyPublicOnlyKey(t, now)
	ed, err := ParsePGPPrivateKey(keys.edPlain, "", now)
	require.NoError(t, err)
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	message := armorBlock(t, "PGP MESSAGE", []byte("not a key"))

	tests := []struct {
		name       string
		armored    string
		passphrase string
		at         time.Time // zero: now
		field      string
		reason     string
	}{
		{name: "ed25519 wrong passphrase", armored: keys.edProtected, passphrase: "Tr0ub4dor&3", field: "passphrase", reason: "wrong passphrase"},
		{name: "ed25519 missing passphrase", armored: keys.edProtected, field: "passphrase", reason: "the key is protected: a passphrase is required"},
		{name: "rsa wrong passphrase", armored: keys.rsaProtected, passphrase: gpgPassphrase + "!", field: "passphrase", reason: "wrong passphrase"},
		{name: "rsa missing passphrase", armored: keys.rsaProtected, field: "passphrase", reason: "the key is protected: a passphrase is required"},
		{name: "expired", armored: keys.expiredSecret, field: "armored_key", reason: "the key expired on 2020-01-02"},
		{name: "revoked", armored: keys.revokedSecret, field: "armored_key", reason: "the key is revoked"},
		{name: "encryption subkey expired", armored: keys.subkeyExpiredSecret, field: "armored_key", reason: "the key expired on 2020-01-02"},
		{name: "encryption subkey revoked", armored: subkeyRevoked, field: "armored_key", reason: "the key's encryption-capable subkeys are revoked: Sluice needs a valid one to decrypt uploads"},
		{name: "no encryption subkey", armored: keys.signOnlySecret, field: "armored_key", reason: "the key has no valid encryption-capable (sub)key: Sluice needs one to decrypt uploads"},
		{name: "encryption subkey secret missing", armored: subkeyPublicOnly, field: "armored_key", reason: "the secret part of the encryption subkey " + subkeyID + " is missing (a GnuPG stub or smartcard key): export the full key with gpg --export-secret-keys --armor KEYID"},
		{name: "public key", armored: keys.edPublic, field: "armored_key", reason: "this is a public key: Sluice needs the private key to decrypt uploads (export it with gpg --export-secret-keys --armor KEYID)"},
		{name: "public packets in a private block", armored: armorBlock(t, openpgp.PrivateKeyType, []byte(keys.edBinaryPublic)), field: "armored_key", reason: "this is a public key: Sluice needs the private key to decrypt uploads (export it with gpg --export-secret-keys --armor KEYID)"},
		{name: "binary key", armored: keys.edBinaryPublic, field: "armored_key", reason: "not an ASCII-armored OpenPGP private key (expected -----BEGIN PGP PRIVATE KEY BLOCK-----)"},
		{name: "garbage", armored: "hello world", field: "armored_key", reason: "not an ASCII-armored OpenPGP private key (expected -----BEGIN PGP PRIVATE KEY BLOCK-----)"},
		{name: "empty", armored: " \n", field: "armored_key", reason: "the key is empty: paste an ASCII-armored OpenPGP private key"},
		{name: "message", armored: message, field: "armored_key", reason: "not an ASCII-armored OpenPGP private key (expected -----BEGIN PGP PRIVATE KEY BLOCK-----)"},
		{name: "two blocks", armored: keys.edPlain + keys.rsaPlain, field: "armored_key", reason: "the input holds 2 armored blocks: paste exactly one key"},
		{name: "two keys in one block", armored: keys.twoKeysOneBlock, field: "armored_key", reason: "the armored block holds more than one key: paste exactly one"},
		{name: "truncated", armored: truncateArmor(keys.edPlain), field: "armored_key", reason: "the key is empty or truncated: paste the whole key as exported"},
		{name: "rsa 1024", armored: weakRSA, field: "armored_key", reason: "RSA keys must be at least 2048 bits (got 1024)"},
		{name: "created in the future", armored: keys.edPlain, at: past, field: "armored_key", reason: "the key was created in the future (" + ed.Created.Format(time.DateOnly) + "): check the clock of the machine that made it"},
		{name: "too large", armored: strings.Repeat("A", maxArmoredKeyBytes+1), field: "armored_key", reason: "the key is too large (over 1024 KiB)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			at := tc.at
			if at.IsZero() {
				at = now
			}
			_, err := ParsePGPPrivateKey(tc.armored, tc.passphrase, at)
			requireInvalid(t, err, tc.field, tc.reason)
			if tc.passphrase != "" {
				require.NotContains(t, err.Error(), tc.passphrase)
			}
		})
	}
}

// goMadeKeys returns two armored private keys made in Go: a v6 key and a
// v4 key with 1024-bit RSA, which GnuPG 2.2 cannot or will not make.
func goMadeKeys(t *testing.T, now time.Time) (v6, weakRSA string) {
	t.Helper()
	serialize := func(cfg *packet.Config) string {
		e, err := openpgp.NewEntity("Go Made", "", "go@example.test", cfg)
		require.NoError(t, err)
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
		require.NoError(t, err)
		require.NoError(t, e.SerializePrivate(w, cfg))
		require.NoError(t, w.Close())
		return buf.String()
	}
	clock := func() time.Time { return now.Add(-time.Hour) }
	v6 = serialize(&packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, Time: clock})
	weakRSA = serialize(&packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 1024, MinRSABits: 1024, Time: clock})
	return v6, weakRSA
}

// subkeyRevokedKey returns an armored private key whose only encryption
// subkey is revoked.
func subkeyRevokedKey(t *testing.T, now time.Time) string {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return now.Add(-time.Hour) }}
	e, err := openpgp.NewEntity("Revoked Subkey", "", "rs@example.test", cfg)
	require.NoError(t, err)
	require.NoError(t, e.Subkeys[0].Revoke(packet.KeySuperseded, "rotated", cfg))
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.SerializePrivateWithoutSigning(w, cfg))
	require.NoError(t, w.Close())
	return buf.String()
}

// subkeyPublicOnlyKey returns an armored private key whose encryption
// subkey has no secret part, and that subkey's id.
func subkeyPublicOnlyKey(t *testing.T, now time.Time) (armored, subkeyID string) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return now.Add(-time.Hour) }}
	e, err := openpgp.NewEntity("Public Subkey", "", "ps@example.test", cfg)
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.PrivateKey.Serialize(w))
	for _, id := range e.Identities {
		require.NoError(t, id.Serialize(w))
	}
	require.NoError(t, e.Subkeys[0].Serialize(w, false))
	require.NoError(t, w.Close())
	return buf.String(), fmt.Sprintf("%016X", e.Subkeys[0].PublicKey.KeyId)
}

func TestParsePGPPrivateKeyV6(t *testing.T) {
	t.Parallel()
	now := time.Now()
	v6, _ := goMadeKeys(t, now)
	key, err := ParsePGPPrivateKey(v6, "", now)
	require.NoError(t, err)
	require.Equal(t, 6, key.Version)
	require.Equal(t, "ed25519", key.Algorithm)
	require.Len(t, key.Fingerprint, 64)
	require.Equal(t, []string{"Go Made <go@example.test>"}, key.UserIDs)
}

// armorBlock armors data as a block of type blockType.
func armorBlock(t *testing.T, blockType string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.String()
}

// truncateArmor cuts an armored block in the middle, keeping its end line.
func truncateArmor(armored string) string {
	lines := strings.Split(armored, "\n")
	return strings.Join(lines[:len(lines)/2], "\n") + "\n-----END PGP PRIVATE KEY BLOCK-----\n"
}

func TestParsePGPPublicKey(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	now := time.Now()
	tests := []struct {
		name    string
		armored string
		usage   string
		field   string
		reason  string // "" if the key is accepted
	}{
		{name: "verify", armored: keys.edPublic, usage: "verify"},
		{name: "encrypt", armored: keys.edPublic, usage: "encrypt"},
		{name: "sign-only key to verify", armored: keys.signOnlyPublic, usage: "verify"},
		{name: "sign-only key to encrypt", armored: keys.signOnlyPublic, usage: "encrypt", field: "armored_key", reason: "the key has no valid encryption-capable (sub)key: Sluice needs one to encrypt to this key"},
		{name: "expired to verify", armored: keys.expiredPublic, usage: "verify", field: "armored_key", reason: "the key expired on 2020-01-02"},
		{name: "expired to encrypt", armored: keys.expiredPublic, usage: "encrypt", field: "armored_key", reason: "the key expired on 2020-01-02"},
		{name: "revoked", armored: keys.revokedPublic, usage: "verify", field: "armored_key", reason: "the key is revoked"},
		{name: "private key", armored: keys.edPlain, usage: "verify", field: "armored_key", reason: "this is a private key: keep it secret and paste the public key instead (gpg --export --armor KEYID)"},
		{name: "private packets in a public block", armored: strings.ReplaceAll(keys.edPlain, "PRIVATE", "PUBLIC"), usage: "verify", field: "armored_key", reason: "this is a private key: keep it secret and paste the public key instead (gpg --export --armor KEYID)"},
		{name: "unknown usage", armored: keys.edPublic, usage: "sign", field: "usage", reason: `usage must be "verify" or "encrypt"`},
		{name: "garbage", armored: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n", usage: "verify", field: "armored_key", reason: "the key is malformed: it is not a valid OpenPGP key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, err := ParsePGPPublicKey(tc.armored, tc.usage, now)
			if tc.reason != "" {
				requireInvalid(t, err, tc.field, tc.reason)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "ed25519", key.Algorithm)
			require.False(t, key.Protected)
			require.NotEmpty(t, key.Public)
		})
	}
}

func FuzzParsePGPKey(f *testing.F) {
	now := time.Now()
	private, key, err := GeneratePGPKey("Fuzz", "fuzz@example.test", "", now)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", private, key.Public, private[:len(private)/2], "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, armored string) {
		for _, parse := range []func() (PGPKey, error){
			func() (PGPKey, error) { return ParsePGPPrivateKey(armored, "passphrase", now) },
			func() (PGPKey, error) { return ParsePGPPublicKey(armored, "verify", now) },
		} {
			if _, err := parse(); err != nil {
				var verr *ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("error %v is not a *ValidationError", err)
				}
			}
		}
	})
}
