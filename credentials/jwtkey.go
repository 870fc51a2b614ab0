package credentials

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
)

// Limits of the JWT key checks.
const (
	hs256MinSecret = 32 // bytes: HS256 needs a key as long as its 256-bit output (RFC 7518 §3.2)
	hs256MaxSecret = 1024
	rsaMinBits     = 2048
	rsaMaxBits     = 16384
	maxPEMLen      = 64 << 10
)

// CheckHS256Secret reports whether secret is acceptable as a jwt-hs256 key:
// 32 to 1024 bytes, used as the HMAC key as is (raw UTF-8, not decoded). It
// returns a *ValidationError with Field "secret" that never contains the
// secret.
func CheckHS256Secret(secret string) error {
	if len(secret) < hs256MinSecret {
		return invalid("secret", "must be at least %d bytes long (got %d): HS256 needs a 256-bit key; "+
			"use e.g. `openssl rand -base64 32`", hs256MinSecret, len(secret))
	}
	if len(secret) > hs256MaxSecret {
		return invalid("secret", "must be at most %d bytes long (got %d)", hs256MaxSecret, len(secret))
	}
	return nil
}

// RSAPublicKey is a parsed jwt-rs256 public key. Fingerprint is "SHA256:"
// followed by the unpadded standard base64 of the SHA-256 of the key's PKIX
// (SubjectPublicKeyInfo) DER encoding, whichever PEM form it came in.
type RSAPublicKey struct {
	Key         *rsa.PublicKey
	Bits        int
	Fingerprint string
}

// ParseRS256PublicKey parses one PEM-encoded RSA public key of 2048 to 16384
// bits, as "PUBLIC KEY" (PKIX, `openssl rsa -pubout`) or "RSA PUBLIC KEY"
// (PKCS #1). Surrounding white space is allowed; any other text before or
// after the block is not. It returns a *ValidationError with Field
// "public_key" and a specific reason: not PEM, a private key (never echoed),
// a certificate, another key type, too small a key, trailing data.
func ParseRS256PublicKey(pemText string) (RSAPublicKey, error) {
	const field = "public_key"
	if len(pemText) > maxPEMLen {
		return RSAPublicKey{}, invalid(field, "is too long (%d bytes, at most %d)", len(pemText), maxPEMLen)
	}
	text := strings.TrimSpace(pemText)
	block, rest := pem.Decode([]byte(text))
	switch {
	case block == nil && strings.Contains(text, "PRIVATE KEY"):
		return RSAPublicKey{}, privateKeyError()
	case block == nil:
		return RSAPublicKey{}, invalid(field, "not a PEM block: paste the key including its "+
			"-----BEGIN PUBLIC KEY----- and -----END PUBLIC KEY----- lines")
	case strings.Contains(block.Type, "PRIVATE KEY") || strings.Contains(string(rest), "PRIVATE KEY"):
		return RSAPublicKey{}, privateKeyError()
	case !strings.HasPrefix(text, "-----BEGIN "):
		return RSAPublicKey{}, invalid(field, "has text before the PEM block; paste only the public key")
	case len(strings.TrimSpace(string(rest))) > 0:
		return RSAPublicKey{}, invalid(field, "has data after the PEM block; paste exactly one public key")
	case len(block.Headers) > 0:
		return RSAPublicKey{}, invalid(field, "PEM block has headers; a public key has none")
	}

	var key *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			if isPrivateKeyDER(block.Bytes) {
				return RSAPublicKey{}, privateKeyError()
			}
			return RSAPublicKey{}, invalid(field, "PUBLIC KEY block does not hold a valid public key (malformed or unsupported DER)")
		}
		rsaKey, ok := pub.(*rsa.PublicKey)
		if !ok {
			return RSAPublicKey{}, invalid(field, "jwt-rs256 needs an RSA public key, got %s", keyTypeName(pub))
		}
		key = rsaKey
	case "RSA PUBLIC KEY":
		rsaKey, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			if isPrivateKeyDER(block.Bytes) {
				return RSAPublicKey{}, privateKeyError()
			}
			return RSAPublicKey{}, invalid(field, "RSA PUBLIC KEY block does not hold a valid PKCS #1 public key")
		}
		key = rsaKey
	case "CERTIFICATE":
		return RSAPublicKey{}, invalid(field, "got a certificate, not a public key; extract its key with "+
			"`openssl x509 -in cert.pem -pubkey -noout`")
	default:
		return RSAPublicKey{}, invalid(field, "unsupported PEM block type %q; want PUBLIC KEY or RSA PUBLIC KEY",
			truncate(block.Type, 40))
	}

	bits := key.N.BitLen()
	if bits < rsaMinBits {
		return RSAPublicKey{}, invalid(field, "RSA keys must be at least %d bits (got %d)", rsaMinBits, bits)
	}
	if bits > rsaMaxBits {
		return RSAPublicKey{}, invalid(field, "RSA keys must be at most %d bits (got %d)", rsaMaxBits, bits)
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return RSAPublicKey{}, invalid(field, "cannot encode the RSA key: %v", err)
	}
	sum := sha256.Sum256(der)
	return RSAPublicKey{Key: key, Bits: bits, Fingerprint: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])}, nil
}

func privateKeyError() error {
	return invalid("public_key", "this is a private key, not a public key: it was not stored; upload only "+
		"the public key (e.g. `openssl rsa -in key.pem -pubout`) and keep the private key secret")
}

// isPrivateKeyDER reports whether der parses as a private key, so that one
// pasted in a PUBLIC KEY block is named for what it is.
func isPrivateKeyDER(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}

// keyTypeName names the type of a public key from x509.ParsePKIXPublicKey.
func keyTypeName(pub any) string {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	case *ecdh.PublicKey:
		return "X25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
