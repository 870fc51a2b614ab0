package credentials

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// DecryptionKeys returns the account's pgp-private-key credentials as OpenPGP
// entities whose private keys, primary and subkeys, are unlocked with the
// passphrase sealed with them, in the order the credentials were created.
// None is an empty list, not an error; an unknown account is an error wrapping
// ErrNotFound.
//
// Credentials past their expires_at are left out: that date is the admin's
// way to retire a key. A key that is expired or revoked as an OpenPGP key is
// kept, with a warning in the log when it is unlocked: senders decide whether
// to encrypt to it, and what they encrypted while it was valid, or to a key
// they had not yet seen revoked, must still decrypt (GnuPG and go-crypto's
// ReadMessage decrypt with such keys too). To stop decrypting with a key,
// delete the credential or set its expires_at.
//
// If any credential cannot be opened or unlocked (a master key missing from
// the vault, corrupt stored data), the call fails and names the credential:
// leaving the key out would turn an internal fault into the permanent
// rejection of files encrypted to it. No error or log line contains a
// passphrase or key material.
//
// Unlocked keys are cached in memory per credential and per version of its
// stored secret, so only the first call after a change pays for the unlock,
// and a credential changed, deleted or resealed (here or by another node) is
// never served from the cache; concurrent callers share one unlock per
// credential. A key leaves the cache 10 minutes after its last use, or when
// it is changed through this Service; the cache holds at most 1024 keys
// (keyCacheTTL, keyCacheMax). Each call returns its own Entity
// structures, which the caller may use with go-crypto freely; the key
// material they point to is shared and must not be modified.
//
// It is safe for concurrent use. It blocks on the store, and on a cache miss
// for the unlock of each key not cached, which for a key protected by GnuPG
// costs a tenth of a CPU second to a second (GnuPG tunes its S2K to the
// machine that made the key) and is not interrupted by ctx.
func (s *Service) DecryptionKeys(ctx context.Context, account string) (openpgp.EntityList, error) {
	// Read before the listing: an invalidation after it may concern a
	// credential in the listing, whose unlocked key must then not be kept.
	gen := s.keys.generation()
	now := s.now()
	creds, err := s.activeCredentials(ctx, account, TypePGPPrivateKey, now)
	if err != nil {
		return nil, err
	}
	s.keys.sweep(now)
	out := make(openpgp.EntityList, 0, len(creds))
	for _, c := range creds {
		e, err := s.unlockedKey(ctx, gen, c, now)
		if err != nil {
			return nil, err
		}
		out = append(out, CopyEntity(e))
	}
	return out, nil
}

// VerificationKeys returns the account's pgp-public-key credentials of usage
// verify as OpenPGP entities, in the order the credentials were created,
// leaving out credentials past their expires_at. None is an empty list; an
// unknown account is an error wrapping ErrNotFound. Whether a key was valid
// when it made a signature is for the verifier to judge (go-crypto checks
// expiry and revocation against the signature's time). A stored key that no
// longer parses fails the call, naming the credential. It is safe for
// concurrent use and blocks on the store; the keys are parsed on each call
// (no S2K: public keys are cheap to read).
func (s *Service) VerificationKeys(ctx context.Context, account string) (openpgp.EntityList, error) {
	creds, err := s.activeCredentials(ctx, account, TypePGPPublicKey, s.now())
	if err != nil {
		return nil, err
	}
	out := make(openpgp.EntityList, 0, len(creds))
	for _, c := range creds {
		if c.Metadata.Usage != "verify" {
			continue
		}
		e, _, err := readPGPEntity(c.PublicData, "armored_key", openpgp.PublicKeyType)
		if err != nil {
			return nil, fmt.Errorf("read the stored public key of credential %q of account %q: %s",
				c.Name, c.Account, reasonOf(err))
		}
		out = append(out, e)
	}
	return out, nil
}

// ZipPasswords returns the account's zip-password secrets, opened from the
// vault, in the order the credentials were created, leaving out credentials
// past their expires_at. None is an empty slice; an unknown account is an
// error wrapping ErrNotFound, a secret that does not open an error naming the
// credential (never the secret). The caller must not log the passwords. It is
// safe for concurrent use and blocks on the store.
func (s *Service) ZipPasswords(ctx context.Context, account string) ([]string, error) {
	creds, err := s.activeCredentials(ctx, account, TypeZIPPassword, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(creds))
	for _, c := range creds {
		plain, err := s.Secret(c)
		if err != nil {
			return nil, fmt.Errorf("zip password of account %q: %w", c.Account, err)
		}
		out = append(out, string(plain))
		clear(plain)
	}
	return out, nil
}

// activeCredentials lists the account's credentials of type t that have not
// reached their expires_at at now, oldest first. It only reads.
func (s *Service) activeCredentials(ctx context.Context, account string, t Type, now time.Time) ([]Credential, error) {
	if account == "" {
		return nil, fmt.Errorf("list %s credentials: the account name is empty: %w", t, ErrNotFound)
	}
	all, err := s.store.CredentialsByType(ctx, account, t)
	if err != nil {
		return nil, err
	}
	creds := all[:0]
	for _, c := range all {
		if c.Expired(now) {
			s.logger.Debug("expired credential left out", "account", account, "credential", c.Name, "type", t)
			continue
		}
		creds = append(creds, c)
	}
	slices.SortFunc(creds, func(a, b Credential) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return creds, nil
}

// keyVersion identifies what a cached key was unlocked from: the sealed
// blob (which a rotation or a change rewrites) and the update time.
func keyVersion(c Credential) string {
	sum := sha256.Sum256(c.Sealed)
	return c.KeyID + "/" + strconv.FormatInt(c.UpdatedAt.UnixMicro(), 10) + "/" + hex.EncodeToString(sum[:])
}

// unlockedKey returns the unlocked entity of credential c from the cache, or
// unlocks it (once for concurrent callers) and caches it unless the cache was
// invalidated since gen.
func (s *Service) unlockedKey(ctx context.Context, gen uint64, c Credential, now time.Time) (*openpgp.Entity, error) {
	version := keyVersion(c)
	if e, ok := s.keys.get(c.ID, version, now); ok {
		return e, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err, _ := s.keys.flights.Do(c.ID+"\x00"+version, func() (any, error) {
		// A flight that ended just before this one began may have
		// cached it.
		if e, ok := s.keys.get(c.ID, version, now); ok {
			return e, nil
		}
		s.keys.unlocks.Add(1)
		e, err := s.unlockPGPKey(c, now)
		if err != nil {
			return nil, err
		}
		s.keys.put(gen, c.Account, c.Name, c.ID, version, e, now)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*openpgp.Entity), nil
}

// unlockPGPKey opens the sealed key of c and unlocks its private keys with
// the sealed passphrase. Its errors name the credential, never a secret; it
// logs a warning if the key is not valid for decryption at now (expired,
// revoked) but returns it all the same.
func (s *Service) unlockPGPKey(c Credential, now time.Time) (*openpgp.Entity, error) {
	plain, err := s.Secret(c)
	if err != nil {
		return nil, fmt.Errorf("decryption key of account %q: %w", c.Account, err)
	}
	var sk sealedPGPKey
	err = json.Unmarshal(plain, &sk)
	clear(plain)
	if err != nil {
		// The JSON error may quote the plaintext: it is not passed on.
		return nil, fmt.Errorf("decryption key %q of account %q: the sealed key is not in the stored format", c.Name, c.Account)
	}
	e, body, err := readPGPEntity(sk.ArmoredKey, "armored_key", openpgp.PrivateKeyType)
	if err != nil {
		return nil, fmt.Errorf("decryption key %q of account %q: %s", c.Name, c.Account, reasonOf(err))
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("decryption key %q of account %q: the stored key has no private part", c.Name, c.Account)
	}
	if pgpProtected(e) {
		if err := e.DecryptPrivateKeys([]byte(sk.Passphrase)); err != nil {
			return nil, fmt.Errorf("decryption key %q of account %q: the stored passphrase does not unlock it", c.Name, c.Account)
		}
	}
	// The check runs on a copy of its own: go-crypto records in the entity
	// whether each signature is valid at the date it is first asked about,
	// and the cached entity must not keep a verdict of now (a self-signature
	// expired now still counts for decrypting, which asks about no date).
	fresh, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(body)))
	if err == nil {
		err = checkPGPEntity(fresh, body, "armored_key", usageDecrypt, now)
	}
	if err != nil {
		s.logger.Warn("decryption key is not valid now; still used to decrypt what was encrypted to it",
			"account", c.Account, "credential", c.Name, "fingerprint", c.Fingerprint, "reason", reasonOf(err))
	}
	return e, nil
}

// reasonOf returns the reason of a *ValidationError (written for people, and
// free of secrets), or a general phrase for any other error.
func reasonOf(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return "the stored key is unreadable"
}

// CopyEntity copies the structure of e with fresh signature wrappers:
// go-crypto records in each wrapper whether the signature verified the
// first time it checks it, so callers sharing a cached entity would race.
// Keys and signature packets are shared; nobody writes them once the key is
// unlocked. DecryptionKeys and VerificationKeys return such copies; the
// decrypt stage copies again what any Keyring gives it.
func CopyEntity(e *openpgp.Entity) *openpgp.Entity {
	c := *e
	c.Revocations = copySigs(e.Revocations)
	c.DirectSignatures = copySigs(e.DirectSignatures)
	c.Identities = make(map[string]*openpgp.Identity, len(e.Identities))
	for name, id := range e.Identities {
		ci := *id
		ci.Primary = &c
		ci.SelfCertifications = copySigs(id.SelfCertifications)
		ci.OtherCertifications = copySigs(id.OtherCertifications)
		ci.Revocations = copySigs(id.Revocations)
		c.Identities[name] = &ci
	}
	c.Subkeys = make([]openpgp.Subkey, len(e.Subkeys))
	for i, sk := range e.Subkeys {
		sk.Primary = &c
		sk.Bindings = copySigs(sk.Bindings)
		sk.Revocations = copySigs(sk.Revocations)
		c.Subkeys[i] = sk
	}
	return &c
}

// copySigs copies signature wrappers, keeping a verdict already recorded.
func copySigs(sigs []*packet.VerifiableSignature) []*packet.VerifiableSignature {
	if sigs == nil {
		return nil
	}
	out := make([]*packet.VerifiableSignature, len(sigs))
	for i, s := range sigs {
		c := *s
		out[i] = &c
	}
	return out
}
