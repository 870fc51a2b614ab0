package credentials

import (
	"context"
	"errors"
	"fmt"
)

// VerifyAPIToken returns the api-token credential that token is, and records
// its use. Any failure is ErrUnauthenticated, with no hint of the cause.
func (s *Service) VerifyAPIToken(ctx context.Context, token string) (Credential, error) {
	if len(token) < 32 || len(token) > 80 {
		return Credential{}, ErrUnauthenticated
	}
	c, err := s.store.CredentialByTokenHash(ctx, HashToken(token))
	switch {
	case errors.Is(err, ErrNotFound):
		return Credential{}, ErrUnauthenticated
	case err != nil:
		return Credential{}, err
	case c.Expired(s.now()):
		return Credential{}, ErrUnauthenticated
	}
	return c, s.MarkUsed(ctx, c)
}

// JWTKey returns the global JWT credential named kid with its verification
// key: the HMAC secret as []byte for jwt-hs256, an *rsa.PublicKey for
// jwt-rs256. Any other credential, or none, is ErrUnauthenticated.
func (s *Service) JWTKey(ctx context.Context, kid string) (Credential, any, error) {
	if CheckCredentialName(kid) != nil {
		return Credential{}, nil, ErrUnauthenticated
	}
	c, err := s.store.Credential(ctx, "", kid)
	switch {
	case errors.Is(err, ErrNotFound):
		return Credential{}, nil, ErrUnauthenticated
	case err != nil:
		return Credential{}, nil, err
	case c.Expired(s.now()):
		return Credential{}, nil, ErrUnauthenticated
	}
	switch c.Type {
	case TypeJWTHS256:
		secret, err := s.Secret(c)
		if err != nil {
			return Credential{}, nil, err
		}
		return c, secret, nil
	case TypeJWTRS256:
		k, err := ParseRS256PublicKey(c.PublicData)
		if err != nil {
			return Credential{}, nil, fmt.Errorf("stored key of credential %q: %w", c.Name, err)
		}
		return c, k.Key, nil
	}
	return Credential{}, nil, ErrUnauthenticated
}

// MarkUsed records that c just authenticated something.
func (s *Service) MarkUsed(ctx context.Context, c Credential) error {
	return s.store.TouchCredential(ctx, c.ID, s.now())
}

// Secret opens the sealed secret of c (a zip password, an HMAC secret, an
// armored private key with its passphrase). The caller must not log it.
func (s *Service) Secret(c Credential) ([]byte, error) {
	if c.Sealed == nil {
		return nil, fmt.Errorf("credential %q of type %s has no sealed secret", c.Name, c.Type)
	}
	b, err := s.vault.Open(c.KeyID, c.Sealed, aad(c))
	if err != nil {
		return nil, fmt.Errorf("open secret of credential %q: %w", c.Name, err)
	}
	return b, nil
}

// EnsureAPIToken creates a global api-token credential called name with the
// given token unless a credential of that name exists. It reports whether it
// created one. It serves SLUICE_BOOTSTRAP_TOKEN.
func (s *Service) EnsureAPIToken(ctx context.Context, name, token string) (bool, error) {
	_, err := s.store.Credential(ctx, "", name)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	_, err = s.CreateCredential(ctx, "", Spec{Name: name, Type: TypeAPIToken, Token: Secret(token),
		Description: "created at start from SLUICE_BOOTSTRAP_TOKEN"})
	if errors.Is(err, ErrConflict) { // another node won the race
		return false, nil
	}
	return err == nil, err
}

// CreateAPIToken generates a new random token, saves it as a global
// api-token credential called name and returns the token: the only time it is
// ever seen.
func (s *Service) CreateAPIToken(ctx context.Context, name, description string) (Secret, Credential, error) {
	token, err := GenerateAPIToken()
	if err != nil {
		return "", Credential{}, err
	}
	c, err := s.CreateCredential(ctx, "", Spec{Name: name, Type: TypeAPIToken, Token: Secret(token), Description: description})
	if err != nil {
		return "", Credential{}, err
	}
	return Secret(token), c, nil
}

// Reseal re-encrypts every sealed secret under the vault's primary key, in
// one transaction, and returns how many it rewrote. The vault must also hold
// the keys the secrets are sealed with now. It empties the cache of unlocked
// decryption keys.
func (s *Service) Reseal(ctx context.Context) (int, error) {
	defer s.keys.forgetAll()
	return s.store.ResealCredentials(ctx, func(c Credential) (string, []byte, error) {
		plain, err := s.Secret(c)
		if err != nil {
			return "", nil, err
		}
		return s.vault.Seal(plain, aad(c))
	})
}
