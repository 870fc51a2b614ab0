package credentials

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckHS256Secret(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		reason string // "" means valid
	}{
		{name: "32 bytes", secret: strings.Repeat("k", 32)},
		{name: "32 bytes of UTF-8", secret: strings.Repeat("é", 16)},
		{name: "1024 bytes", secret: strings.Repeat("k", 1024)},
		{name: "empty", secret: "", reason: "must be at least 32 bytes long (got 0)"},
		{name: "31 bytes", secret: "0123456789abcdef0123456789abcde", reason: "must be at least 32 bytes long (got 31)"},
		{name: "16 runes, 31 bytes", secret: strings.Repeat("é", 15) + "x", reason: "must be at least 32 bytes long (got 31)"},
		{name: "1025 bytes", secret: strings.Repeat("k", 1025), reason: "must be at most 1024 bytes long (got 1025)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHS256Secret(tc.secret)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			ve := requireValidation(t, err, "secret", tc.reason)
			requireNoEcho(t, ve.Reason, tc.secret)
		})
	}
}

// pemEncode returns one PEM block.
func pemEncode(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// pkixPEM returns pub as a "PUBLIC KEY" PEM block.
func pkixPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return pemEncode("PUBLIC KEY", der)
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestParseRS256PublicKey(t *testing.T) {
	key1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	key2048, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	pub2048 := pkixPEM(t, &key2048.PublicKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key2048)
	require.NoError(t, err)
	privatePKCS8 := pemEncode("PRIVATE KEY", pkcs8)
	privatePKCS1 := pemEncode("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key2048))
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key2048.PublicKey, key2048)
	require.NoError(t, err)
	withHeaders := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Comment": "x"},
		Bytes: pemBytes(t, pub2048)}))

	tests := []struct {
		name   string
		pem    string
		bits   int    // when valid
		reason string // "" means valid
	}{
		{name: "2048 PKIX", pem: pub2048, bits: 2048},
		{name: "2048 PKCS#1", pem: pemEncode("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key2048.PublicKey)), bits: 2048},
		{name: "4096 from openssl", pem: readTestdata(t, "rsa4096.pub.pem"), bits: 4096},
		{name: "4096 PKCS#1 from openssl", pem: readTestdata(t, "rsa4096.pkcs1.pem"), bits: 4096},
		{name: "surrounding white space", pem: "\n  " + pub2048 + "\n\n", bits: 2048},
		{name: "CRLF line endings", pem: strings.ReplaceAll(pub2048, "\n", "\r\n"), bits: 2048},

		{name: "1024 bits", pem: pkixPEM(t, &key1024.PublicKey), reason: "RSA keys must be at least 2048 bits (got 1024)"},
		{name: "1024 bits PKCS#1", pem: pemEncode("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key1024.PublicKey)), reason: "RSA keys must be at least 2048 bits (got 1024)"},
		{name: "EC key", pem: pkixPEM(t, &ecKey.PublicKey), reason: "jwt-rs256 needs an RSA public key, got ECDSA"},
		{name: "Ed25519 key", pem: pkixPEM(t, edPub), reason: "jwt-rs256 needs an RSA public key, got Ed25519"},
		{name: "empty", pem: "", reason: "not a PEM block"},
		{name: "garbage", pem: "hello, this is not a key", reason: "not a PEM block"},
		{name: "ssh key", pem: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host", reason: "not a PEM block"},
		{name: "bare base64", pem: strings.Join(strings.Split(pub2048, "\n")[1:7], ""), reason: "not a PEM block"},
		{name: "no END line", pem: strings.Split(pub2048, "-----END")[0], reason: "not a PEM block"},
		{name: "corrupt base64", pem: strings.Replace(pub2048, "\n", "\n!!!!", 2), reason: "not a PEM block"},
		{name: "garbage DER", pem: pemEncode("PUBLIC KEY", []byte("not DER at all")), reason: "does not hold a valid public key"},
		{name: "garbage PKCS#1 DER", pem: pemEncode("RSA PUBLIC KEY", []byte("not DER at all")), reason: "does not hold a valid PKCS #1 public key"},
		{name: "trailing garbage", pem: pub2048 + "trailing garbage", reason: "has data after the PEM block"},
		{name: "two keys", pem: pub2048 + pub2048, reason: "has data after the PEM block"},
		{name: "leading text", pem: "my key:\n" + pub2048, reason: "has text before the PEM block"},
		{name: "headers", pem: withHeaders, reason: "PEM block has headers"},
		{name: "certificate", pem: pemEncode("CERTIFICATE", certDER), reason: "got a certificate"},
		{name: "other block type", pem: pemEncode("SOMETHING ELSE", []byte{1, 2, 3}), reason: `unsupported PEM block type "SOMETHING ELSE"`},
		{name: "PKCS#8 private key", pem: privatePKCS8, reason: "this is a private key"},
		{name: "PKCS#1 private key", pem: privatePKCS1, reason: "this is a private key"},
		{name: "EC private key", pem: pemEncode("EC PRIVATE KEY", ecDER), reason: "this is a private key"},
		{name: "private key labelled public", pem: pemEncode("PUBLIC KEY", pkcs8), reason: "this is a private key"},
		{name: "private key labelled RSA public", pem: pemEncode("RSA PUBLIC KEY", x509.MarshalPKCS1PrivateKey(key2048)), reason: "this is a private key"},
		{name: "public then private", pem: pub2048 + privatePKCS8, reason: "this is a private key"},
		{name: "truncated private key", pem: privatePKCS8[:200], reason: "this is a private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRS256PublicKey(tc.pem)
			if tc.reason == "" {
				require.NoError(t, err)
				require.Equal(t, tc.bits, got.Bits)
				require.Equal(t, tc.bits, got.Key.N.BitLen())
				der, err := x509.MarshalPKIXPublicKey(got.Key)
				require.NoError(t, err)
				sum := sha256.Sum256(der)
				require.Equal(t, "SHA256:"+base64.RawStdEncoding.EncodeToString(sum[:]), got.Fingerprint)
				return
			}
			ve := requireValidation(t, err, "public_key", tc.reason)
			require.Nil(t, got.Key)
			for _, line := range strings.Split(tc.pem, "\n") {
				if len(line) >= 12 && !strings.HasPrefix(line, "-----") {
					require.NotContains(t, ve.Reason, line, "the reason echoes the input")
				}
			}
		})
	}
}

func TestParseRS256PublicKeyFingerprint(t *testing.T) {
	// The fingerprint matches OpenSSL's:
	// openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64
	want := strings.TrimSpace(readTestdata(t, "rsa4096.fingerprint"))
	for _, name := range []string{"rsa4096.pub.pem", "rsa4096.pkcs1.pem"} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRS256PublicKey(readTestdata(t, name))
			require.NoError(t, err)
			require.Equal(t, want, got.Fingerprint)
		})
	}
}

// pemBytes returns the DER inside the first PEM block of text.
func pemBytes(t *testing.T, text string) []byte {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	require.NotNil(t, block)
	return block.Bytes
}

func FuzzParseRS256PublicKey(f *testing.F) {
	for _, name := range []string{"rsa4096.pub.pem", "rsa4096.pkcs1.pem"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
	f.Add("-----BEGIN PRIVATE KEY-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := ParseRS256PublicKey(text)
		if err != nil {
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "public_key", ve.Field)
			return
		}
		require.GreaterOrEqual(t, got.Bits, 2048)
		require.True(t, strings.HasPrefix(got.Fingerprint, "SHA256:"))
	})
}
