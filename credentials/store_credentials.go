package credentials

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/store"
)

// Credentials live in one table. Their scope is the account name, or "" for
// global credentials; the account column is the same name as a foreign key
// (so deleting an account cascades), NULL for global credentials.
const credentialColumns = `id, scope, name, type, fingerprint, metadata, public_data, secret_hash, sealed, key_id,
	description, created_at, updated_at, last_used_at, expires_at`

const selectCredentials = `SELECT ` + credentialColumns + ` FROM credentials`

// scanCredential scans one row of credentialColumns.
func scanCredential(row scanner) (Credential, error) {
	var c Credential
	err := row.Scan(&c.ID, &c.Account, &c.Name, &c.Type, &c.Fingerprint, jsonCol{&c.Metadata}, &c.PublicData,
		&c.SecretHash, &c.Sealed, &c.KeyID, &c.Description, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt},
		nullTimeCol{&c.LastUsedAt}, nullTimeCol{&c.ExpiresAt})
	if err != nil {
		return Credential{}, err
	}
	return c, nil
}

// credentialNotFound is the error for a missing credential.
func credentialNotFound(account, name string) error {
	if account == "" {
		return fmt.Errorf("credential %q: %w", name, ErrNotFound)
	}
	return fmt.Errorf("credential %q of account %q: %w", name, account, ErrNotFound)
}

// CreateCredential stores a new credential. c.ID must be set by the caller
// (a ULID); c.Account "" makes it a global credential. Errors: a missing
// account is an ErrNotFound; a credential of the same name in the scope, an
// SSH key (by fingerprint) already held by any credential and an API token
// (by hash) already registered are each an ErrConflict saying which.
func (s *Store) CreateCredential(ctx context.Context, c Credential) error {
	meta, err := toJSON(c.Metadata)
	if err != nil {
		return fmt.Errorf("create credential %q: %w", c.Name, err)
	}
	// INSERT … SELECT … WHERE EXISTS checks the account in the same statement
	// that inserts, so a missing account is told apart from other failures
	// without a foreign-key error code.
	res, err := s.db.ExecContext(ctx, `INSERT INTO credentials (`+credentialColumns+`, account)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
		WHERE $2 = '' OR EXISTS (SELECT 1 FROM accounts WHERE name = $2)`,
		c.ID, c.Account, c.Name, c.Type, c.Fingerprint, meta, c.PublicData, c.SecretHash, nullBytes(c.Sealed), c.KeyID,
		c.Description, micros(c.CreatedAt), micros(c.UpdatedAt), nullMicros(c.LastUsedAt), nullMicros(c.ExpiresAt),
		nullString(c.Account))
	if store.IsUniqueViolation(err) {
		return s.credentialConflict(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("create credential %q: %w", c.Name, err)
	}
	return mustHaveChanged(res, accountNotFound(c.Account))
}

// credentialConflict explains a unique violation raised by inserting c. It
// runs after the failed statement (a PostgreSQL transaction would be aborted
// by then), so the row it collided with may be gone again: then it says so in
// general terms.
func (s *Store) credentialConflict(ctx context.Context, c Credential) error {
	if _, err := s.Credential(ctx, c.Account, c.Name); err == nil {
		if c.Account == "" {
			return conflict("credential %q already exists", c.Name)
		}
		return conflict("credential %q already exists in account %q", c.Name, c.Account)
	}
	switch c.Type {
	case TypeSSHPublicKey:
		if owner, err := s.CredentialBySSHFingerprint(ctx, c.Fingerprint); err == nil {
			return conflict("this SSH key is already registered (credential %q of account %q)", owner.Name, owner.Account)
		}
	case TypeAPIToken:
		if _, err := s.CredentialByTokenHash(ctx, c.SecretHash); err == nil {
			return conflict("this token is already registered")
		}
	}
	return conflict("credential %q collides with an existing credential (id %q)", c.Name, c.ID)
}

// Credential returns the named credential of account ("" for a global one),
// or an error wrapping ErrNotFound.
func (s *Store) Credential(ctx context.Context, account, name string) (Credential, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx, selectCredentials+` WHERE scope = $1 AND name = $2`, account, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Credential{}, credentialNotFound(account, name)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("get credential %q: %w", name, err)
	}
	return c, nil
}

// Credentials returns one page of the credentials of account ("" for global
// ones) ordered by name, and the cursor of the next page ("" after the last
// page). An unknown account is an ErrNotFound.
func (s *Store) Credentials(ctx context.Context, account string, p Page) ([]Credential, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p)
	items, err := queryAll(ctx, s.db, scanCredential,
		selectCredentials+` WHERE scope = $1 AND name > $2 ORDER BY name LIMIT $3`, account, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list credentials: %w", err)
	}
	if err := s.scopeMustExist(ctx, account, len(items)); err != nil {
		return nil, "", err
	}
	items, next := pageOf(items, limit, func(c Credential) string { return c.Name })
	return items, next, nil
}

// CredentialsByType returns every credential of type t in the scope of
// account ("" for global ones), ordered by name. An unknown account is an
// ErrNotFound.
func (s *Store) CredentialsByType(ctx context.Context, account string, t Type) ([]Credential, error) {
	items, err := queryAll(ctx, s.db, scanCredential,
		selectCredentials+` WHERE scope = $1 AND type = $2 ORDER BY name`, account, t)
	if err != nil {
		return nil, fmt.Errorf("list %s credentials: %w", t, err)
	}
	if err := s.scopeMustExist(ctx, account, len(items)); err != nil {
		return nil, err
	}
	return items, nil
}

// scopeMustExist returns an ErrNotFound when a list of an account's
// credentials came back empty because the account does not exist.
func (s *Store) scopeMustExist(ctx context.Context, account string, found int) error {
	if found > 0 || account == "" {
		return nil
	}
	ok, err := accountExists(ctx, s.db, account)
	if err != nil {
		return err
	}
	if !ok {
		return accountNotFound(account)
	}
	return nil
}

// CredentialByTokenHash returns the api-token credential whose SecretHash is
// hash, or an error wrapping ErrNotFound (which does not repeat the hash).
func (s *Store) CredentialByTokenHash(ctx context.Context, hash string) (Credential, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx,
		selectCredentials+` WHERE type = $1 AND secret_hash = $2`, TypeAPIToken, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Credential{}, fmt.Errorf("api token: %w", ErrNotFound)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("get api token: %w", err)
	}
	return c, nil
}

// CredentialBySSHFingerprint returns the ssh-public-key credential whose
// Fingerprint is fp, or an error wrapping ErrNotFound.
func (s *Store) CredentialBySSHFingerprint(ctx context.Context, fp string) (Credential, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx,
		selectCredentials+` WHERE type = $1 AND fingerprint = $2`, TypeSSHPublicKey, fp))
	if errors.Is(err, sql.ErrNoRows) {
		return Credential{}, fmt.Errorf("ssh key %q: %w", fp, ErrNotFound)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("get ssh key %q: %w", fp, err)
	}
	return c, nil
}

// UpdateCredential writes the mutable fields of the credential with c.ID:
// Description, ExpiresAt, Metadata and UpdatedAt. Nothing else changes. A
// missing credential is an ErrNotFound.
func (s *Store) UpdateCredential(ctx context.Context, c Credential) error {
	meta, err := toJSON(c.Metadata)
	if err != nil {
		return fmt.Errorf("update credential %q: %w", c.Name, err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET description = $1, expires_at = $2, metadata = $3,
		updated_at = $4 WHERE id = $5`, c.Description, nullMicros(c.ExpiresAt), meta, micros(c.UpdatedAt), c.ID)
	if err != nil {
		return fmt.Errorf("update credential %q: %w", c.Name, err)
	}
	return mustHaveChanged(res, credentialNotFound(c.Account, c.Name))
}

// TouchCredential records that the credential with id authenticated
// something at at. A missing credential is an ErrNotFound.
func (s *Store) TouchCredential(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET last_used_at = $1 WHERE id = $2`, micros(at), id)
	if err != nil {
		return fmt.Errorf("touch credential %q: %w", id, err)
	}
	return mustHaveChanged(res, fmt.Errorf("credential id %q: %w", id, ErrNotFound))
}

// DeleteCredential deletes the named credential of account ("" for a global
// one). A missing credential is an ErrNotFound.
func (s *Store) DeleteCredential(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM credentials WHERE scope = $1 AND name = $2`, account, name)
	if err != nil {
		return fmt.Errorf("delete credential %q: %w", name, err)
	}
	return mustHaveChanged(res, credentialNotFound(account, name))
}

// ResealCredentials rewrites the sealed secret of every credential that has
// one, for a master-key rotation: fn receives the credential and returns the
// new key id and ciphertext. It runs in one transaction, so either every
// credential is rewritten or, when fn or a write fails, none is; it returns
// how many were rewritten. It blocks other writers while it runs (on SQLite).
func (s *Store) ResealCredentials(ctx context.Context, fn func(Credential) (keyID string, sealed []byte, err error)) (int, error) {
	var n int
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Read everything first: a connection cannot run an UPDATE while
		// it still streams rows (PostgreSQL).
		creds, err := queryAll(ctx, tx, scanCredential, selectCredentials+` WHERE sealed IS NOT NULL ORDER BY id`)
		if err != nil {
			return fmt.Errorf("list sealed credentials: %w", err)
		}
		for _, c := range creds {
			keyID, sealed, err := fn(c)
			if err != nil {
				return fmt.Errorf("reseal credential %q: %w", c.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE credentials SET sealed = $1, key_id = $2 WHERE id = $3`,
				nullBytes(sealed), keyID, c.ID); err != nil {
				return fmt.Errorf("reseal credential %q: %w", c.Name, err)
			}
		}
		n = len(creds)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
