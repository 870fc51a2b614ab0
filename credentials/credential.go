package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// allowedFields lists, per type, which optional Spec fields may be set.
// Every other field must be empty: a password sent with an SSH key is a
// mistake worth reporting, not something to drop silently.
var allowedFields = map[Type][]string{
	TypePassword:      {"password"},
	TypeSSHPublicKey:  {"public_key"},
	TypeZIPPassword:   {"password"},
	TypePGPPrivateKey: {"armored_key", "passphrase", "generate", "algorithm"},
	TypePGPPublicKey:  {"armored_key", "usage"},
	TypeAPIToken:      {"token"},
	TypeJWTHS256:      {"secret"},
	TypeJWTRS256:      {"public_key"},
}

// setFields returns the JSON names of the optional fields set in sp.
func (sp Spec) setFields() []string {
	var set []string
	add := func(name string, ok bool) {
		if ok {
			set = append(set, name)
		}
	}
	add("password", sp.Password != "")
	add("public_key", sp.PublicKey != "")
	add("armored_key", sp.ArmoredKey != "")
	add("passphrase", sp.Passphrase != "")
	add("generate", sp.Generate)
	add("algorithm", sp.Algorithm != "")
	add("usage", sp.Usage != "")
	add("token", sp.Token != "")
	add("secret", sp.Secret != "")
	return set
}

func typeList(ts []Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// checkSpec validates what can be checked without parsing key material.
func checkSpec(account string, sp Spec) error {
	if err := CheckCredentialName(sp.Name); err != nil {
		return err
	}
	switch {
	case sp.Type == "":
		return invalid("type", "is required")
	case !sp.Type.Known():
		return invalid("type", "unknown credential type %q; one of %s, %s", sp.Type, typeList(AccountTypes), typeList(GlobalTypes))
	case account == "" && !sp.Type.Global():
		return invalid("type", "%s is an account credential: create it under /api/v1/accounts/{account}/credentials", sp.Type)
	case account != "" && sp.Type.Global():
		return invalid("type", "%s is a global credential: create it under /api/v1/credentials", sp.Type)
	}
	allowed := allowedFields[sp.Type]
	for _, f := range sp.setFields() {
		ok := false
		for _, a := range allowed {
			ok = ok || a == f
		}
		if !ok {
			return invalid(f, "does not apply to credentials of type %s", sp.Type)
		}
	}
	if utf8.RuneCountInString(sp.Description) > 1024 {
		return invalid("description", "must be at most 1024 characters")
	}
	return nil
}

// sealedPGPKey is the plaintext sealed for a pgp-private-key credential.
type sealedPGPKey struct {
	ArmoredKey string `json:"armored_key"`
	Passphrase string `json:"passphrase,omitempty"`
}

// CreateCredential validates sp and saves it as a new credential of the
// account (or a global credential when account is ""). Passwords are hashed
// with argon2id, tokens with SHA-256, other secrets sealed by the vault.
func (s *Service) CreateCredential(ctx context.Context, account string, sp Spec) (Credential, error) {
	if err := checkSpec(account, sp); err != nil {
		return Credential{}, err
	}
	if account != "" {
		// Fail fast before spending CPU on hashing or key generation.
		if _, err := s.store.Account(ctx, account); err != nil {
			return Credential{}, err
		}
	}
	now := s.now()
	c := Credential{
		ID:          newID(),
		Account:     account,
		Name:        sp.Name,
		Type:        sp.Type,
		Description: sp.Description,
		CreatedAt:   now,
		UpdatedAt:   now,
		ExpiresAt:   sp.ExpiresAt,
	}
	if c.ExpiresAt != nil {
		if !c.ExpiresAt.After(now) {
			return Credential{}, invalid("expires_at", "is in the past")
		}
		t := c.ExpiresAt.UTC()
		c.ExpiresAt = &t
	}
	secret, err := s.build(&c, sp)
	if err != nil {
		return Credential{}, err
	}
	if secret != nil {
		if c.KeyID, c.Sealed, err = s.vault.Seal(secret, aad(c)); err != nil {
			return Credential{}, fmt.Errorf("seal credential %q: %w", c.Name, err)
		}
	}
	err = s.store.CreateCredential(ctx, c)
	s.keys.forgetCredential(account, c.Name)
	if err != nil {
		return Credential{}, err
	}
	s.logger.Info("credential created", "account", account, "credential", c.Name, "type", c.Type, "fingerprint", c.Fingerprint)
	return c, nil
}

// aad is the associated data that binds a sealed secret to its credential.
func aad(c Credential) []byte { return []byte(c.ID + "\x00" + string(c.Type)) }

// build fills the type-specific fields of c from sp and returns the plaintext
// to seal, if the type has one.
func (s *Service) build(c *Credential, sp Spec) (sealed []byte, err error) {
	switch sp.Type {
	case TypePassword:
		if err := CheckPassword(string(sp.Password)); err != nil {
			return nil, err
		}
		c.SecretHash, err = HashPassword(s.cfg.Argon2, string(sp.Password))
		return nil, err
	case TypeZIPPassword:
		if err := checkZIPPassword(string(sp.Password)); err != nil {
			return nil, err
		}
		return []byte(sp.Password), nil
	case TypeSSHPublicKey:
		k, err := ParseSSHPublicKey(sp.PublicKey)
		if err != nil {
			return nil, err
		}
		c.Fingerprint, c.PublicData = k.Fingerprint, k.Line
		c.Metadata = Metadata{Algorithm: k.Algorithm, Bits: k.Bits, Comment: k.Comment}
		return nil, nil
	case TypePGPPrivateKey:
		return s.buildPGPPrivateKey(c, sp)
	case TypePGPPublicKey:
		if sp.Usage != "verify" && sp.Usage != "encrypt" {
			return nil, invalid("usage", "must be verify or encrypt")
		}
		k, err := ParsePGPPublicKey(string(sp.ArmoredKey), sp.Usage, s.now())
		if err != nil {
			return nil, err
		}
		c.Fingerprint, c.PublicData = k.Fingerprint, k.Public
		c.Metadata = pgpMetadata(k)
		c.Metadata.Usage = sp.Usage
		return nil, nil
	case TypeAPIToken:
		if err := CheckAPIToken(string(sp.Token)); err != nil {
			return nil, err
		}
		c.SecretHash = HashToken(string(sp.Token))
		c.Fingerprint = TokenPrefix(string(sp.Token))
		c.Metadata.TokenPrefix = c.Fingerprint
		return nil, nil
	case TypeJWTHS256:
		if err := CheckHS256Secret(string(sp.Secret)); err != nil {
			return nil, err
		}
		return []byte(sp.Secret), nil
	case TypeJWTRS256:
		k, err := ParseRS256PublicKey(sp.PublicKey)
		if err != nil {
			return nil, err
		}
		c.Fingerprint, c.PublicData = k.Fingerprint, strings.TrimSpace(sp.PublicKey)+"\n"
		c.Metadata = Metadata{Algorithm: "rsa", Bits: k.Bits}
		return nil, nil
	}
	return nil, invalid("type", "unknown credential type %q", sp.Type)
}

func (s *Service) buildPGPPrivateKey(c *Credential, sp Spec) ([]byte, error) {
	var (
		armored = string(sp.ArmoredKey)
		k       PGPKey
		err     error
	)
	switch {
	case sp.Generate && armored != "":
		return nil, invalid("armored_key", "give either armored_key or generate: true, not both")
	case sp.Generate:
		if sp.Passphrase != "" {
			return nil, invalid("passphrase", "does not apply to a generated key: Sluice keeps it sealed")
		}
		if sp.Algorithm != "" && sp.Algorithm != "curve25519" && sp.Algorithm != "rsa-3072" {
			return nil, invalid("algorithm", "must be curve25519 (default) or rsa-3072")
		}
		armored, k, err = GeneratePGPKey("Sluice "+c.Account, c.Account+"@sluice.invalid", sp.Algorithm, s.now())
		if err != nil {
			return nil, fmt.Errorf("generate OpenPGP key: %w", err)
		}
	case armored == "":
		return nil, invalid("armored_key", "is required (or set generate: true)")
	default:
		if sp.Algorithm != "" {
			return nil, invalid("algorithm", "applies only with generate: true")
		}
		if k, err = ParsePGPPrivateKey(armored, string(sp.Passphrase), s.now()); err != nil {
			return nil, err
		}
	}
	c.Fingerprint, c.PublicData = k.Fingerprint, k.Public
	c.Metadata = pgpMetadata(k)
	c.Metadata.Generated = sp.Generate
	return json.Marshal(sealedPGPKey{ArmoredKey: armored, Passphrase: string(sp.Passphrase)})
}

func pgpMetadata(k PGPKey) Metadata {
	return Metadata{Algorithm: k.Algorithm, Bits: k.Bits, KeyIDs: k.KeyIDs, UserIDs: k.UserIDs}
}

func checkZIPPassword(p string) error {
	switch {
	case p == "":
		return invalid("password", "is required")
	case len(p) > 1024:
		return invalid("password", "must be at most 1024 bytes")
	case strings.ContainsRune(p, 0):
		return invalid("password", "must not contain NUL characters")
	}
	return nil
}

// Credential returns the named credential of the account ("" for global).
func (s *Service) Credential(ctx context.Context, account, name string) (Credential, error) {
	return s.store.Credential(ctx, account, name)
}

// Credentials returns one page of the account's credentials ("" for global),
// ordered by name, and the cursor of the next page.
func (s *Service) Credentials(ctx context.Context, account string, p Page) ([]Credential, string, error) {
	if account != "" {
		if _, err := s.store.Account(ctx, account); err != nil {
			return nil, "", err
		}
	}
	return s.store.Credentials(ctx, account, p)
}

// UpdateCredential applies p, the mutable metadata, to the named credential.
// A patch that names another name or type is a conflict: credentials are
// never renamed and never change type.
func (s *Service) UpdateCredential(ctx context.Context, account, name string, p CredentialPatch) (Credential, error) {
	c, err := s.store.Credential(ctx, account, name)
	if err != nil {
		return Credential{}, err
	}
	if p.Name != nil && *p.Name != c.Name {
		return Credential{}, conflict("credential names cannot be changed once saved: create a new credential named %q and delete %q", *p.Name, c.Name)
	}
	if p.Type != nil && *p.Type != c.Type {
		return Credential{}, conflict("credential types cannot be changed once saved: create a new credential of type %s", *p.Type)
	}
	if p.Description != nil {
		if utf8.RuneCountInString(*p.Description) > 1024 {
			return Credential{}, invalid("description", "must be at most 1024 characters")
		}
		c.Description = *p.Description
	}
	if p.ExpiresAt != nil {
		t := p.ExpiresAt.UTC()
		c.ExpiresAt = &t
	}
	if p.Usage != nil {
		if c.Type != TypePGPPublicKey {
			return Credential{}, invalid("usage", "applies only to pgp-public-key credentials")
		}
		if _, err := ParsePGPPublicKey(c.PublicData, *p.Usage, s.now()); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && ve.Field == "armored_key" {
				return Credential{}, invalid("usage", "%s", ve.Reason)
			}
			return Credential{}, err
		}
		c.Metadata.Usage = *p.Usage
	}
	c.UpdatedAt = s.now()
	err = s.store.UpdateCredential(ctx, c)
	s.keys.forgetCredential(account, name)
	if err != nil {
		return Credential{}, err
	}
	return c, nil
}

// DeleteCredential deletes the named credential of the account ("" for global).
func (s *Service) DeleteCredential(ctx context.Context, account, name string) error {
	defer s.keys.forgetCredential(account, name)
	return s.store.DeleteCredential(ctx, account, name)
}

// PublicKey returns the armored OpenPGP public key of a pgp-private-key (the
// key customers encrypt to) or pgp-public-key credential.
func (s *Service) PublicKey(ctx context.Context, account, name string) (string, error) {
	c, err := s.store.Credential(ctx, account, name)
	if err != nil {
		return "", err
	}
	if c.Type != TypePGPPrivateKey && c.Type != TypePGPPublicKey {
		return "", fmt.Errorf("credential %q is of type %s and has no OpenPGP public key: %w", name, c.Type, ErrNotFound)
	}
	return c.PublicData, nil
}
