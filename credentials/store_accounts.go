package credentials

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/store"
)

const accountColumns = `name, quota_bytes, quota_files, max_file_size, allowed_cidrs, disabled, require_key_and_password, created_at, updated_at`

// scanAccount scans one row of accountColumns. AllowedCIDRs is never nil.
func scanAccount(row scanner) (Account, error) {
	var a Account
	err := row.Scan(&a.Name, &a.QuotaBytes, &a.QuotaFiles, &a.MaxFileSize, jsonCol{&a.AllowedCIDRs},
		&a.Disabled, &a.RequireKeyAndPassword, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return Account{}, err
	}
	if a.AllowedCIDRs == nil {
		a.AllowedCIDRs = []string{}
	}
	return a, nil
}

// accountNotFound is the error for a missing account.
func accountNotFound(name string) error {
	return fmt.Errorf("account %q: %w", name, ErrNotFound)
}

// cidrsJSON stores a nil allow-list as [] like an empty one.
func cidrsJSON(cidrs []string) (string, error) {
	if cidrs == nil {
		cidrs = []string{}
	}
	return toJSON(cidrs)
}

// CreateAccount stores a new account. An account of the same name is an
// ErrConflict.
func (s *Store) CreateAccount(ctx context.Context, a Account) error {
	cidrs, err := cidrsJSON(a.AllowedCIDRs)
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.Name, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.Name, a.QuotaBytes, a.QuotaFiles, a.MaxFileSize, cidrs, a.Disabled, a.RequireKeyAndPassword, micros(a.CreatedAt), micros(a.UpdatedAt))
	if store.IsUniqueViolation(err) {
		return conflict("account %q already exists", a.Name)
	}
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.Name, err)
	}
	return nil
}

// Account returns the named account, or an error wrapping ErrNotFound.
func (s *Store) Account(ctx context.Context, name string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, accountNotFound(name)
	}
	if err != nil {
		return Account{}, fmt.Errorf("get account %q: %w", name, err)
	}
	return a, nil
}

// Accounts returns one page of accounts ordered by name, and the cursor of the
// next page ("" after the last page).
func (s *Store) Accounts(ctx context.Context, p Page) ([]Account, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p)
	items, err := queryAll(ctx, s.db, scanAccount,
		`SELECT `+accountColumns+` FROM accounts WHERE name > $1 ORDER BY name LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list accounts: %w", err)
	}
	items, next := pageOf(items, limit, func(a Account) string { return a.Name })
	return items, next, nil
}

// UpdateAccount writes every mutable field of a (quotas, limits, allow-list,
// disabled flag) and its UpdatedAt. CreatedAt is left as stored. A missing
// account is an ErrNotFound.
func (s *Store) UpdateAccount(ctx context.Context, a Account) error {
	cidrs, err := cidrsJSON(a.AllowedCIDRs)
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.Name, err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE accounts SET quota_bytes = $1, quota_files = $2, max_file_size = $3,
		allowed_cidrs = $4, disabled = $5, require_key_and_password = $6, updated_at = $7 WHERE name = $8`,
		a.QuotaBytes, a.QuotaFiles, a.MaxFileSize, cidrs, a.Disabled, a.RequireKeyAndPassword, micros(a.UpdatedAt), a.Name)
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.Name, err)
	}
	return mustHaveChanged(res, accountNotFound(a.Name))
}

// DeleteAccount deletes the named account together with its credentials and
// feeds. A missing account is an ErrNotFound.
func (s *Store) DeleteAccount(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM accounts WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete account %q: %w", name, err)
	}
	return mustHaveChanged(res, accountNotFound(name))
}

// accountExists reports whether the named account exists.
func accountExists(ctx context.Context, q querier, name string) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT 1 FROM accounts WHERE name = $1`, name)
	if err != nil {
		return false, fmt.Errorf("look up account %q: %w", name, err)
	}
	defer rows.Close()
	found := rows.Next()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("look up account %q: %w", name, err)
	}
	return found, nil
}

// mustHaveChanged returns notFound when res changed no row.
func mustHaveChanged(res sql.Result, notFound error) error {
	n, err := rowsAffected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
