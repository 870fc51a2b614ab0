package credentials

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// maxArmoredKeyBytes bounds an armored OpenPGP key. Real keys are a few KiB;
// keys carrying many third-party signatures reach a few hundred.
const maxArmoredKeyBytes = 1 << 20

// PGPKey describes a validated OpenPGP key. It holds no secret: Public is the
// armored public part only.
type PGPKey struct {
	Fingerprint string    // primary key fingerprint, upper-case hex
	KeyIDs      []string  // primary + subkeys, upper-case 16-hex key ids
	UserIDs     []string  // valid user ids, the primary one first
	Algorithm   string    // e.g. "ed25519", "rsa", "ecdsa"  (primary key)
	Bits        int       // where meaningful: RSA modulus, curve size (256 for ed25519)
	Public      string    // armored public key (ASCII armor "PGP PUBLIC KEY BLOCK")
	Version     int       // key packet version: 4, or 6 for RFC 9580 keys
	Protected   bool      // the private key material is passphrase-protected (private keys only)
	Created     time.Time // creation time of the primary key
	Expires     time.Time // when the key stops being usable for its purpose; zero: never
}

// pgpUsage is what Sluice does with a key; it decides which (sub)key must be
// valid.
type pgpUsage int

const (
	usageDecrypt pgpUsage = iota // a private key that decrypts uploads
	usageEncrypt                 // a customer public key Sluice encrypts to
	usageVerify                  // a customer public key that verifies signatures
)

// capability names the kind of (sub)key the usage needs.
func (u pgpUsage) capability() string {
	if u == usageVerify {
		return "signing-capable"
	}
	return "encryption-capable"
}

// purpose says what Sluice does with the key, for error reasons.
func (u pgpUsage) purpose() string {
	switch u {
	case usageDecrypt:
		return "decrypt uploads"
	case usageEncrypt:
		return "encrypt to this key"
	default:
		return "verify signatures"
	}
}

// pgpConfig is the OpenPGP policy for parsing and generating keys: the
// library's defaults (which refuse DSA, ElGamal and secp256k1) with RSA of at
// least minRSABits.
func pgpConfig() *packet.Config {
	return &packet.Config{MinRSABits: minRSABits}
}

// ParsePGPPrivateKey parses and validates an ASCII-armored OpenPGP private key
// that Sluice will use to decrypt uploads. The armor must hold exactly one key
// with its private material. If the material is protected, passphrase must
// unlock it (errors for field "passphrase"); a passphrase given for an
// unprotected key is ignored and Protected reports false. The key must be
// neither revoked nor expired at now, and must have a valid encryption-capable
// (sub)key whose secret part is present; the primary key's secret part may be
// a GnuPG stub (gpg --export-secret-subkeys). v4 and v6 keys are accepted.
// Other errors are *ValidationError for field "armored_key"; none carries the
// key or the passphrase. It is safe for concurrent use. Unlocking a protected
// key runs its S2K function, which GnuPG tunes to cost a good fraction of a
// CPU second.
func ParsePGPPrivateKey(armored, passphrase string, now time.Time) (PGPKey, error) {
	const field = "armored_key"
	e, body, err := readPGPEntity(armored, field, openpgp.PrivateKeyType)
	if err != nil {
		return PGPKey{}, err
	}
	if e.PrivateKey == nil {
		return PGPKey{}, invalid(field, "this is a public key: Sluice needs the private key to decrypt uploads (export it with gpg --export-secret-keys --armor KEYID)")
	}
	if err := checkPGPEntity(e, body, field, usageDecrypt, now); err != nil {
		return PGPKey{}, err
	}

	protected := pgpProtected(e)
	if protected {
		if passphrase == "" {
			return PGPKey{}, invalid("passphrase", "the key is protected: a passphrase is required")
		}
		if err := e.DecryptPrivateKeys([]byte(passphrase)); err != nil {
			return PGPKey{}, invalid("passphrase", "wrong passphrase")
		}
	}
	key, err := e.EncryptionKeyWithError(now, pgpConfig())
	if err != nil {
		return PGPKey{}, invalid(field, "the key has no valid %s (sub)key: Sluice needs one to %s", usageDecrypt.capability(), usageDecrypt.purpose())
	}
	if key.PrivateKey == nil || key.PrivateKey.Dummy() {
		return PGPKey{}, invalid(field, "the secret part of the encryption subkey %016X is missing (a GnuPG stub or smartcard key): export the full key with gpg --export-secret-keys --armor KEYID", key.PublicKey.KeyId)
	}

	out, err := describePGPKey(e, usageDecrypt, now)
	if err != nil {
		return PGPKey{}, err
	}
	out.Protected = protected
	return out, nil
}

// ParsePGPPublicKey parses and validates an ASCII-armored OpenPGP public key
// of a customer. usage is "verify" (the key must have a valid signing-capable
// (sub)key) or "encrypt" (a valid encryption-capable one); anything else is a
// *ValidationError for field "usage". A private key is refused so that it is
// never stored as public data. Other errors are *ValidationError for field
// "armored_key". It is safe for concurrent use and does not block.
func ParsePGPPublicKey(armored, usage string, now time.Time) (PGPKey, error) {
	const field = "armored_key"
	var u pgpUsage
	switch usage {
	case "verify":
		u = usageVerify
	case "encrypt":
		u = usageEncrypt
	default:
		return PGPKey{}, invalid("usage", `usage must be "verify" or "encrypt"`)
	}
	e, body, err := readPGPEntity(armored, field, openpgp.PublicKeyType)
	if err != nil {
		return PGPKey{}, err
	}
	if e.PrivateKey != nil || slices.ContainsFunc(e.Subkeys, func(s openpgp.Subkey) bool { return s.PrivateKey != nil }) {
		return PGPKey{}, invalid(field, "this is a private key: keep it secret and paste the public key instead (gpg --export --armor KEYID)")
	}
	if err := checkPGPEntity(e, body, field, u, now); err != nil {
		return PGPKey{}, err
	}
	return describePGPKey(e, u, now)
}

// GeneratePGPKey generates a v4 OpenPGP key without expiry for user id
// "name <email>" and returns it armored without a passphrase (the caller
// seals it), together with its description. algorithm is "" or "curve25519"
// (an EdDSA ed25519 primary key with an ECDH cv25519 encryption subkey) or
// "rsa-3072" (RSA 3072 primary key and encryption subkey); both are
// understood by GnuPG 2.2. An unknown algorithm is a *ValidationError for
// field "algorithm", a name or email with characters a user id cannot hold
// one for field "user_id". It is safe for concurrent use; it blocks for the
// key generation (about a second for RSA, much less for curve25519).
func GeneratePGPKey(name, email, algorithm string, now time.Time) (armoredPrivate string, key PGPKey, err error) {
	cfg := pgpConfig()
	cfg.V6Keys = false
	cfg.Time = func() time.Time { return now }
	cfg.DefaultHash = crypto.SHA256
	cfg.DefaultCipher = packet.CipherAES256
	switch algorithm {
	case "", "curve25519":
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
		cfg.Curve = packet.Curve25519
	case "rsa-3072":
		cfg.Algorithm = packet.PubKeyAlgoRSA
		cfg.RSABits = 3072
	default:
		return "", PGPKey{}, invalid("algorithm", `algorithm must be "curve25519" or "rsa-3072"`)
	}
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name+email, "()<>\x00\r\n") {
		return "", PGPKey{}, invalid("user_id", "the name must not be empty, and neither name nor email may contain ( ) < > or control characters")
	}

	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return "", PGPKey{}, fmt.Errorf("generate openpgp %s key: %w", algorithm, err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return "", PGPKey{}, fmt.Errorf("armor openpgp private key: %w", err)
	}
	if err := e.SerializePrivate(w, cfg); err != nil {
		return "", PGPKey{}, fmt.Errorf("serialize openpgp private key: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", PGPKey{}, fmt.Errorf("armor openpgp private key: %w", err)
	}
	armoredPrivate = buf.String()
	// Reading the key back proves it passes the same checks as an import.
	key, err = ParsePGPPrivateKey(armoredPrivate, "", now)
	if err != nil {
		return "", PGPKey{}, fmt.Errorf("check generated openpgp key: %w", err)
	}
	return armoredPrivate, key, nil
}

// readPGPEntity decodes the one armored block of armored, which must be of
// blockType, and reads exactly one key from it. It returns the entity and the
// decoded packets, from which a fresh entity can be read.
func readPGPEntity(armored, field, blockType string) (*openpgp.Entity, []byte, error) {
	what := "public"
	if blockType == openpgp.PrivateKeyType {
		what = "private"
	}
	if strings.TrimSpace(armored) == "" {
		return nil, nil, invalid(field, "the key is empty: paste an ASCII-armored OpenPGP %s key", what)
	}
	if len(armored) > maxArmoredKeyBytes {
		return nil, nil, invalid(field, "the key is too large (over %d KiB)", maxArmoredKeyBytes>>10)
	}
	if n := strings.Count(armored, "-----BEGIN PGP "); n > 1 {
		return nil, nil, invalid(field, "the input holds %d armored blocks: paste exactly one key", n)
	}
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return nil, nil, invalid(field, "not an ASCII-armored OpenPGP %s key (expected -----BEGIN %s-----)", what, blockType)
	}
	switch {
	case block.Type == blockType:
	case block.Type == openpgp.PublicKeyType:
		return nil, nil, invalid(field, "this is a public key: Sluice needs the private key to decrypt uploads (export it with gpg --export-secret-keys --armor KEYID)")
	case block.Type == openpgp.PrivateKeyType:
		return nil, nil, invalid(field, "this is a private key: keep it secret and paste the public key instead (gpg --export --armor KEYID)")
	default:
		return nil, nil, invalid(field, "not an ASCII-armored OpenPGP %s key (expected -----BEGIN %s-----)", what, blockType)
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, maxArmoredKeyBytes))
	if err != nil {
		return nil, nil, invalid(field, "the armor is corrupt (bad base64 or checksum): paste the key exactly as exported")
	}

	packets := packet.NewReader(bytes.NewReader(body))
	e, err := openpgp.ReadEntity(packets)
	if err != nil {
		return nil, nil, pgpReadError(field, err)
	}
	switch _, err := packets.Next(); {
	case errors.Is(err, io.EOF):
	case err == nil:
		return nil, nil, invalid(field, "the armored block holds more than one key: paste exactly one")
	default:
		return nil, nil, pgpReadError(field, err)
	}
	return e, body, nil
}

// pgpReadError turns an error reading a key into a *ValidationError without
// passing on library text.
func pgpReadError(field string, err error) error {
	var unsupported pgperrors.UnsupportedError
	if errors.As(err, &unsupported) {
		return invalid(field, "the key uses an unsupported OpenPGP algorithm or format")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid(field, "the key is empty or truncated: paste the whole key as exported")
	}
	return invalid(field, "the key is malformed: it is not a valid OpenPGP key")
}

// checkPGPEntity checks that e is acceptable for usage at now and, if not,
// says why. body holds e's packets: the diagnosis reads a fresh copy, because
// an entity caches signature validity for the first date it is asked about.
func checkPGPEntity(e *openpgp.Entity, body []byte, field string, usage pgpUsage, now time.Time) error {
	cfg := pgpConfig()
	if err := checkPGPAlgorithm(e.PrimaryKey, field); err != nil {
		return err
	}
	if e.PrimaryKey.CreationTime.After(now) {
		return invalid(field, "the key was created in the future (%s): check the clock of the machine that made it", e.PrimaryKey.CreationTime.UTC().Format(time.DateOnly))
	}
	selfSig, err := e.VerifyPrimaryKey(now, cfg)
	switch {
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return invalid(field, "the key is revoked")
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return pgpExpired(field, e.PrimaryKey, selfSig)
	case err != nil:
		// No self-signature valid at now: maybe all of them expired.
		if fresh, rerr := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(body))); rerr == nil {
			if sig, verr := fresh.VerifyPrimaryKey(time.Time{}, cfg); verr == nil {
				if at := pgpExpiry(fresh.PrimaryKey, sig); !at.IsZero() && !at.After(now) {
					return pgpExpired(field, fresh.PrimaryKey, sig)
				}
			}
		}
		return invalid(field, "the key has no valid self-signature on a user id that is not revoked")
	}

	var key openpgp.Key
	if usage == usageVerify {
		var ok bool
		if key, ok = e.SigningKey(now, cfg); !ok {
			err = errors.New("no signing key")
		}
	} else {
		key, err = e.EncryptionKeyWithError(now, cfg)
	}
	if err != nil {
		return diagnosePGPSubkeys(body, field, usage, now)
	}
	return checkPGPAlgorithm(key.PublicKey, field)
}

// diagnosePGPSubkeys explains why a key whose primary key is valid has no
// (sub)key for usage at now: expired, revoked, too weak or absent.
func diagnosePGPSubkeys(body []byte, field string, usage pgpUsage, now time.Time) error {
	cfg := pgpConfig()
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(body)))
	if err != nil {
		return pgpReadError(field, err)
	}
	var (
		expired  time.Time
		revoked  bool
		weakness error
	)
	for _, s := range e.Subkeys {
		sig, err := s.LatestValidBindingSignature(time.Time{}, cfg)
		if err != nil || !pgpCapable(sig, s.PublicKey.PubKeyAlgo, usage) {
			continue
		}
		switch {
		case s.Revoked(sig, now):
			revoked = true
		case s.Expired(sig, now):
			if at := pgpExpiry(s.PublicKey, sig); at.After(expired) {
				expired = at
			}
		default:
			if err := checkPGPAlgorithm(s.PublicKey, field); err != nil {
				weakness = err
			}
		}
	}
	switch {
	case weakness != nil:
		return weakness
	case !expired.IsZero():
		return invalid(field, "the key expired on %s", expired.UTC().Format(time.DateOnly))
	case revoked:
		return invalid(field, "the key's %s subkeys are revoked: Sluice needs a valid one to %s", usage.capability(), usage.purpose())
	}
	return invalid(field, "the key has no valid %s (sub)key: Sluice needs one to %s", usage.capability(), usage.purpose())
}

// pgpCapable reports whether a (sub)key with binding signature sig may be
// used for usage.
func pgpCapable(sig *packet.Signature, algo packet.PublicKeyAlgorithm, usage pgpUsage) bool {
	if usage == usageVerify {
		return algo.CanSign() && sig.FlagsValid && sig.FlagSign
	}
	return algo.CanEncrypt() && sig.FlagsValid && (sig.FlagEncryptCommunications || sig.FlagEncryptStorage)
}

// checkPGPAlgorithm refuses algorithms and sizes Sluice does not accept.
func checkPGPAlgorithm(pk *packet.PublicKey, field string) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
		return invalid(field, "DSA and ElGamal keys are not accepted: use curve25519 (ed25519/cv25519) or rsa ≥ 2048")
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		if bits, err := pk.BitLength(); err != nil || int(bits) < minRSABits {
			return invalid(field, "RSA keys must be at least %d bits (got %d)", minRSABits, bits)
		}
	}
	if curve, err := pk.Curve(); err == nil && pgpConfig().RejectCurve(curve) {
		return invalid(field, "keys on curve %s are not accepted: use curve25519 or rsa ≥ 2048", curve)
	}
	return nil
}

// pgpExpired is the error for a key that expired; sig is the self-signature
// that carries its lifetime.
func pgpExpired(field string, pk *packet.PublicKey, sig *packet.Signature) error {
	if sig == nil {
		return invalid(field, "the key expired")
	}
	at := pgpExpiry(pk, sig)
	if at.IsZero() {
		return invalid(field, "the key expired")
	}
	return invalid(field, "the key expired on %s", at.UTC().Format(time.DateOnly))
}

// pgpExpiry returns when the key pk with self-signature sig expires: the
// earlier of its key lifetime and the signature's own lifetime; zero if
// never.
func pgpExpiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	var at time.Time
	if sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs > 0 {
		at = pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	}
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs > 0 {
		if st := sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second); at.IsZero() || st.Before(at) {
			at = st
		}
	}
	return at
}

// pgpProtected reports whether any private key material of e is encrypted.
func pgpProtected(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	return slices.ContainsFunc(e.Subkeys, func(s openpgp.Subkey) bool {
		return s.PrivateKey != nil && s.PrivateKey.Encrypted
	})
}

// describePGPKey describes e, which checkPGPEntity accepted for usage at now.
func describePGPKey(e *openpgp.Entity, usage pgpUsage, now time.Time) (PGPKey, error) {
	cfg := pgpConfig()
	pk := e.PrimaryKey
	algo, bits := pgpAlgorithm(pk)
	out := PGPKey{
		Fingerprint: strings.ToUpper(hex.EncodeToString(pk.Fingerprint)),
		KeyIDs:      []string{fmt.Sprintf("%016X", pk.KeyId)},
		Algorithm:   algo,
		Bits:        bits,
		Version:     pk.Version,
		Created:     pk.CreationTime.UTC(),
	}
	for _, s := range e.Subkeys {
		out.KeyIDs = append(out.KeyIDs, fmt.Sprintf("%016X", s.PublicKey.KeyId))
	}

	_, primary := e.PrimaryIdentity(now, cfg)
	var others []string
	for name, id := range e.Identities {
		switch {
		case id == primary:
			out.UserIDs = append(out.UserIDs, name)
		default:
			if _, err := id.Verify(now, cfg); err == nil {
				others = append(others, name)
			}
		}
	}
	slices.Sort(others)
	out.UserIDs = append(out.UserIDs, others...)

	if selfSig, err := e.VerifyPrimaryKey(now, cfg); err == nil {
		out.Expires = pgpExpiry(pk, selfSig)
	}
	var key openpgp.Key
	if usage == usageVerify {
		key, _ = e.SigningKey(now, cfg)
	} else {
		key, _ = e.EncryptionKey(now, cfg)
	}
	if key.PublicKey != nil && key.SelfSignature != nil && key.PublicKey != pk {
		if at := pgpExpiry(key.PublicKey, key.SelfSignature); !at.IsZero() && (out.Expires.IsZero() || at.Before(out.Expires)) {
			out.Expires = at
		}
	}
	if !out.Expires.IsZero() {
		out.Expires = out.Expires.UTC()
	}

	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return PGPKey{}, fmt.Errorf("armor openpgp public key %s: %w", out.Fingerprint, err)
	}
	if err := e.Serialize(w); err != nil {
		return PGPKey{}, fmt.Errorf("serialize openpgp public key %s: %w", out.Fingerprint, err)
	}
	if err := w.Close(); err != nil {
		return PGPKey{}, fmt.Errorf("armor openpgp public key %s: %w", out.Fingerprint, err)
	}
	out.Public = buf.String()
	return out, nil
}

// pgpAlgorithm names the algorithm of pk and its strength in bits, 0 where
// no single number is meaningful.
func pgpAlgorithm(pk *packet.PublicKey) (string, int) {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		bits, _ := pk.BitLength()
		return "rsa", int(bits)
	case packet.PubKeyAlgoDSA:
		bits, _ := pk.BitLength()
		return "dsa", int(bits)
	case packet.PubKeyAlgoElGamal:
		bits, _ := pk.BitLength()
		return "elgamal", int(bits)
	case packet.PubKeyAlgoECDSA:
		return "ecdsa", pgpCurveBits(pk)
	case packet.PubKeyAlgoECDH:
		return "ecdh", pgpCurveBits(pk)
	case packet.PubKeyAlgoEdDSA:
		if bits := pgpCurveBits(pk); bits == 448 {
			return "ed448", bits
		}
		return "ed25519", 256
	case packet.PubKeyAlgoEd25519:
		return "ed25519", 256
	case packet.PubKeyAlgoEd448:
		return "ed448", 448
	case packet.PubKeyAlgoX25519:
		return "x25519", 256
	case packet.PubKeyAlgoX448:
		return "x448", 448
	default:
		return fmt.Sprintf("algorithm-%d", pk.PubKeyAlgo), 0
	}
}

// pgpCurveBits returns the size of pk's elliptic curve, 0 if unknown.
func pgpCurveBits(pk *packet.PublicKey) int {
	curve, err := pk.Curve()
	if err != nil {
		return 0
	}
	switch curve {
	case packet.Curve25519, packet.CurveNistP256, packet.CurveBrainpoolP256, packet.CurveSecP256k1:
		return 256
	case packet.CurveNistP384, packet.CurveBrainpoolP384:
		return 384
	case packet.CurveBrainpoolP512:
		return 512
	case packet.CurveNistP521:
		return 521
	case packet.Curve448:
		return 448
	}
	return 0
}
