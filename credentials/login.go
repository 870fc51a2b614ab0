package credentials

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// CheckPassword verifies an SFTP login by password and returns the account
// and the credential that matched. Unknown users, disabled accounts and wrong
// passwords all fail with ErrUnauthenticated after the same work: at least
// one argon2id verification. Verifications run under a semaphore so that a
// flood of logins cannot exhaust memory (each costs Argon2.Memory); it blocks
// until a slot is free or ctx ends.
func (s *Service) CheckPassword(ctx context.Context, user, password string) (Account, Credential, error) {
	var creds []Credential
	acct, err := s.store.Account(ctx, user)
	switch {
	case err == nil:
		if creds, err = s.store.CredentialsByType(ctx, user, TypePassword); err != nil {
			return Account{}, Credential{}, err
		}
	case !errors.Is(err, ErrNotFound):
		return Account{}, Credential{}, err
	}
	if err := s.hashes.Acquire(ctx, 1); err != nil {
		return Account{}, Credential{}, err
	}
	defer s.hashes.Release(1)

	if len(creds) == 0 || len(password) > maxPasswordBytes {
		_, _ = VerifyPassword(s.dummyHash, password)
		return Account{}, Credential{}, ErrUnauthenticated
	}
	now := s.now()
	for _, c := range creds {
		ok, err := VerifyPassword(c.SecretHash, password)
		if err != nil {
			s.logger.Error("stored password hash is unreadable", "account", user, "credential", c.Name, "err", err)
			continue
		}
		if ok && !c.Expired(now) {
			return acct, c, nil
		}
	}
	return Account{}, Credential{}, ErrUnauthenticated
}

// maxPasswordBytes bounds what CheckPassword hashes: longer input cannot be a
// stored password (CheckPassword refuses them on create).
const maxPasswordBytes = 1024

// FindKey reports whether key is an authorized, unexpired SSH key of user and
// returns the account and credential. It has no side effects: SSH clients
// offer keys they never use to sign.
func (s *Service) FindKey(ctx context.Context, user string, key ssh.PublicKey) (Account, Credential, error) {
	c, err := s.store.CredentialBySSHFingerprint(ctx, ssh.FingerprintSHA256(key))
	switch {
	case errors.Is(err, ErrNotFound):
		return Account{}, Credential{}, ErrUnauthenticated
	case err != nil:
		return Account{}, Credential{}, err
	case c.Account != user || c.Expired(s.now()):
		return Account{}, Credential{}, ErrUnauthenticated
	}
	acct, err := s.store.Account(ctx, user)
	if err != nil {
		return Account{}, Credential{}, fmt.Errorf("account of SSH key %s: %w", c.Fingerprint, err)
	}
	return acct, c, nil
}

// MarkUsedID records that the credential with the given id just
// authenticated something.
func (s *Service) MarkUsedID(ctx context.Context, id string) error {
	return s.store.TouchCredential(ctx, id, s.now())
}

// FeedFor returns the feed that routes the virtual path of an account's
// upload: the feed whose folder is the longest prefix of path ("/" being the
// default). ok is false when no feed matches.
func (s *Service) FeedFor(ctx context.Context, account, path string) (f Feed, ok bool, err error) {
	feeds, err := s.feeds.get(ctx, account, time.Now(), s.store.Feeds)
	if err != nil {
		return Feed{}, false, err
	}
	best := -1
	for i, fd := range feeds {
		if !underFolder(path, fd.Path) {
			continue
		}
		if best < 0 || len(fd.Path) > len(feeds[best].Path) {
			best = i
		}
	}
	if best < 0 {
		return Feed{}, false, nil
	}
	return feeds[best], true, nil
}

// underFolder reports whether the clean absolute path p lies in folder dir.
func underFolder(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}
