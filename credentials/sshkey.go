package credentials

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"strings"

	"golang.org/x/crypto/ssh"
)

// maxSSHKeyLineBytes bounds the authorized_keys input: a 16384-bit RSA key
// with a long comment fits comfortably.
const maxSSHKeyLineBytes = 16 << 10

// minRSABits is the smallest RSA modulus accepted for SSH and OpenPGP keys.
const minRSABits = 2048

// SSHKey is a validated SSH public key as it appears on one authorized_keys
// line. It holds no secret.
type SSHKey struct {
	Key         ssh.PublicKey
	Line        string // normalised authorized_keys line: "<type> <base64>[ <comment>]", no options
	Fingerprint string // ssh.FingerprintSHA256: "SHA256:…"
	Algorithm   string // key type, e.g. ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, sk-ssh-ed25519@openssh.com
	Bits        int    // rsa modulus size, ecdsa curve size, 256 for ed25519
	Comment     string
}

// ParseSSHPublicKey parses and validates one OpenSSH authorized_keys line
// ("ssh-ed25519 AAAA… user@host"). It accepts ed25519, ECDSA on P-256, P-384
// and P-521, RSA of at least 2048 bits and the FIDO (sk-) variants of ed25519
// and ECDSA. It refuses options, certificates, DSA keys, short RSA keys, more
// than one key and pasted private keys, each with a *ValidationError for
// field "public_key" that says which; the error never repeats the input.
// It is safe for concurrent use and does not block.
func ParseSSHPublicKey(line string) (SSHKey, error) {
	if len(line) > maxSSHKeyLineBytes {
		return SSHKey{}, invalid("public_key", "the key is too long (over %d bytes): paste one authorized_keys line", maxSSHKeyLineBytes)
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return SSHKey{}, invalid("public_key", "the key is empty: paste one authorized_keys line such as the content of ~/.ssh/id_ed25519.pub")
	}
	if err := sshKeyFormat(line); err != nil {
		return SSHKey{}, err
	}

	key, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return SSHKey{}, invalid("public_key", `not an authorized_keys line: expected "<type> <base64> [comment]", e.g. the content of ~/.ssh/id_ed25519.pub`)
	}
	if len(options) > 0 {
		return SSHKey{}, invalid("public_key", "authorized_keys options (such as from= or command=) are not supported: paste the key without them and set restrictions on the account instead")
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return SSHKey{}, invalid("public_key", "SSH certificates are not supported yet: paste the plain public key")
	}
	bits, err := sshKeyBits(key)
	if err != nil {
		return SSHKey{}, err
	}

	normalised := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment != "" {
		normalised += " " + comment
	}
	return SSHKey{
		Key:         key,
		Line:        normalised,
		Fingerprint: ssh.FingerprintSHA256(key),
		Algorithm:   key.Type(),
		Bits:        bits,
		Comment:     comment,
	}, nil
}

// sshKeyFormat rejects input that is recognisably not a single
// authorized_keys line, before it reaches the parser, so that the reason can
// be specific. It never quotes the input: it may be a private key.
func sshKeyFormat(line string) error {
	switch {
	case strings.Contains(line, "PRIVATE KEY-----"), strings.HasPrefix(line, "PuTTY-User-Key-File-"):
		return invalid("public_key", "this is a private key: never share it; paste the public key instead (the .pub file, or ssh-keygen -y -f KEYFILE)")
	case strings.Contains(line, "BEGIN SSH2 PUBLIC KEY"):
		return invalid("public_key", "this is an RFC 4716 (SSH2) public key: convert it with ssh-keygen -i -f KEYFILE and paste the resulting line")
	case strings.Contains(line, "BEGIN PUBLIC KEY"), strings.Contains(line, "BEGIN RSA PUBLIC KEY"):
		return invalid("public_key", "this is a PEM public key: convert it with ssh-keygen -i -m PKCS8 -f KEYFILE and paste the resulting line")
	}
	var keys int
	for l := range strings.Lines(line) {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			keys++
		}
	}
	if keys > 1 {
		return invalid("public_key", "more than one key (%d lines): add each key as its own credential", keys)
	}
	return nil
}

// sshKeyBits returns the strength of an accepted key type, or a
// *ValidationError for a type Sluice refuses.
func sshKeyBits(key ssh.PublicKey) (int, error) {
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519:
		return 256, nil
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256:
		pub, err := cryptoKey[*ecdsa.PublicKey](key)
		if err != nil {
			return 0, err
		}
		return pub.Curve.Params().BitSize, nil
	case ssh.KeyAlgoRSA:
		pub, err := cryptoKey[*rsa.PublicKey](key)
		if err != nil {
			return 0, err
		}
		if bits := pub.N.BitLen(); bits < minRSABits {
			return 0, invalid("public_key", "RSA keys must be at least %d bits (got %d)", minRSABits, bits)
		}
		return pub.N.BitLen(), nil
	case ssh.InsecureKeyAlgoDSA:
		return 0, invalid("public_key", "DSA keys are not accepted: use ed25519, ecdsa or rsa ≥ 2048")
	default:
		return 0, invalid("public_key", "%s keys are not accepted: use ed25519, ecdsa or rsa ≥ 2048", key.Type())
	}
}

// cryptoKey returns the standard library key behind an SSH public key.
func cryptoKey[T any](key ssh.PublicKey) (T, error) {
	var zero T
	ck, ok := key.(ssh.CryptoPublicKey)
	if !ok {
		return zero, invalid("public_key", "the %s key is malformed", key.Type())
	}
	pub, ok := ck.CryptoPublicKey().(T)
	if !ok {
		return zero, invalid("public_key", "the %s key is malformed", key.Type())
	}
	return pub, nil
}
