package credentials

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/store"
)

// feedConfig is the stored form of a feed's policy and schema: the JSON of
// the config column. Path has its own column, for its unique constraint.
type feedConfig struct {
	OnError           string  `json:"on_error"`
	MaxErrorRate      float64 `json:"max_error_rate"`
	RequireEncryption bool    `json:"require_encryption"`
	RequireSignature  bool    `json:"require_signature"`
	AllowZipCrypto    bool    `json:"allow_zipcrypto"`
	Schema            Schema  `json:"schema"`
}

// expected_every has its own column too, so that a query can find the feeds
// silent for longer: microseconds (the unit of the timestamps), NULL for none.
const feedColumns = `account, name, path, config, expected_every, created_at, updated_at`

// scanFeed scans one row of feedColumns.
func scanFeed(row scanner) (Feed, error) {
	var (
		f     Feed
		cfg   feedConfig
		every sql.NullInt64
	)
	if err := row.Scan(&f.Account, &f.Name, &f.Path, jsonCol{&cfg}, &every, timeCol{&f.CreatedAt}, timeCol{&f.UpdatedAt}); err != nil {
		return Feed{}, err
	}
	if every.Valid {
		f.ExpectedEvery = time.Duration(every.Int64) * time.Microsecond
	}
	f.OnError, f.MaxErrorRate, f.Schema = cfg.OnError, cfg.MaxErrorRate, cfg.Schema
	f.RequireEncryption, f.RequireSignature, f.AllowZipCrypto = cfg.RequireEncryption, cfg.RequireSignature, cfg.AllowZipCrypto
	return f, nil
}

// nullDurationMicros stores a duration in microseconds, 0 as NULL.
func nullDurationMicros(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return d.Microseconds()
}

// feedNotFound is the error for a missing feed.
func feedNotFound(account, name string) error {
	return fmt.Errorf("feed %q of account %q: %w", name, account, ErrNotFound)
}

// errFeedRace reports that the feed was created concurrently between our
// look-up and our insert; PutFeed then tries again, and updates it.
var errFeedRace = errors.New("feed created concurrently")

// PutFeed creates the feed f.Account/f.Name or replaces its path, policy,
// schema, ExpectedEvery (stored to the microsecond) and UpdatedAt, keeping
// the stored CreatedAt; created reports which.
// A missing account is an ErrNotFound; another feed of the account on the
// same path is an ErrConflict naming it.
func (s *Store) PutFeed(ctx context.Context, f Feed) (created bool, err error) {
	cfg, err := toJSON(feedConfig{
		OnError: f.OnError, MaxErrorRate: f.MaxErrorRate, RequireEncryption: f.RequireEncryption,
		RequireSignature: f.RequireSignature, AllowZipCrypto: f.AllowZipCrypto, Schema: f.Schema,
	})
	if err != nil {
		return false, fmt.Errorf("put feed %q: %w", f.Name, err)
	}
	created, err = s.putFeed(ctx, f, cfg)
	if errors.Is(err, errFeedRace) {
		// A concurrent PutFeed created the feed after our look-up: this
		// attempt sees it and updates it.
		created, err = s.putFeed(ctx, f, cfg)
	}
	if errors.Is(err, errFeedRace) {
		return false, conflict("feed %q of account %q is being changed concurrently, try again", f.Name, f.Account)
	}
	return created, err
}

// putFeed is one attempt of PutFeed.
func (s *Store) putFeed(ctx context.Context, f Feed, cfg string) (created bool, err error) {
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		ok, err := accountExists(ctx, tx, f.Account)
		if err != nil {
			return err
		}
		if !ok {
			return accountNotFound(f.Account)
		}
		res, err := tx.ExecContext(ctx, `UPDATE feeds SET path = $1, config = $2, expected_every = $3, updated_at = $4
			WHERE account = $5 AND name = $6`, f.Path, cfg, nullDurationMicros(f.ExpectedEvery), micros(f.UpdatedAt), f.Account, f.Name)
		if err != nil {
			return err
		}
		n, err := rowsAffected(res)
		if err != nil || n > 0 {
			return err
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO feeds (`+feedColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			f.Account, f.Name, f.Path, cfg, nullDurationMicros(f.ExpectedEvery), micros(f.CreatedAt), micros(f.UpdatedAt))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return false, err
	}
	if store.IsUniqueViolation(err) {
		// The transaction is rolled back (and on PostgreSQL unusable):
		// find out outside it which constraint we hit.
		var other string
		qerr := s.db.QueryRowContext(ctx, `SELECT name FROM feeds WHERE account = $1 AND path = $2 AND name <> $3`,
			f.Account, f.Path, f.Name).Scan(&other)
		switch {
		case qerr == nil:
			return false, conflict("feed %q already uses path %q", other, f.Path)
		case errors.Is(qerr, sql.ErrNoRows):
			return false, errFeedRace
		default:
			return false, fmt.Errorf("put feed %q: %w", f.Name, qerr)
		}
	}
	if err != nil {
		return false, fmt.Errorf("put feed %q: %w", f.Name, err)
	}
	return created, nil
}

// Feed returns the named feed of account, or an error wrapping ErrNotFound.
func (s *Store) Feed(ctx context.Context, account, name string) (Feed, error) {
	f, err := scanFeed(s.db.QueryRowContext(ctx, `SELECT `+feedColumns+` FROM feeds WHERE account = $1 AND name = $2`,
		account, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Feed{}, feedNotFound(account, name)
	}
	if err != nil {
		return Feed{}, fmt.Errorf("get feed %q: %w", name, err)
	}
	return f, nil
}

// Feeds returns every feed of account ordered by name. An unknown account is
// an ErrNotFound.
func (s *Store) Feeds(ctx context.Context, account string) ([]Feed, error) {
	items, err := queryAll(ctx, s.db, scanFeed, `SELECT `+feedColumns+` FROM feeds WHERE account = $1 ORDER BY name`, account)
	if err != nil {
		return nil, fmt.Errorf("list feeds of account %q: %w", account, err)
	}
	if len(items) == 0 {
		ok, err := accountExists(ctx, s.db, account)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, accountNotFound(account)
		}
	}
	return items, nil
}

// AllFeeds returns every feed of every account, by account and name.
func (s *Store) AllFeeds(ctx context.Context) ([]Feed, error) {
	items, err := queryAll(ctx, s.db, scanFeed, `SELECT `+feedColumns+` FROM feeds ORDER BY account, name`)
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	return items, nil
}

// DeleteFeed deletes the named feed of account. A missing feed is an
// ErrNotFound.
func (s *Store) DeleteFeed(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM feeds WHERE account = $1 AND name = $2`, account, name)
	if err != nil {
		return fmt.Errorf("delete feed %q: %w", name, err)
	}
	return mustHaveChanged(res, feedNotFound(account, name))
}
