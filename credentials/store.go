package credentials

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/store"
)

// Store persists accounts, credentials, feeds and audit events in a
// store.DB (SQLite or PostgreSQL). It holds no business rules: it neither
// validates nor hashes nor encrypts anything, it stores what it is given and
// maps database outcomes to ErrNotFound, ErrConflict and *ValidationError (for
// a bad page cursor). Times are stored as unix microseconds and returned in
// UTC, truncated to the microsecond.
//
// Store is safe for concurrent use; every method blocks until its statements
// have run.
type Store struct {
	db *store.DB
}

// NewStore returns a Store on db, which must already be migrated (store.Open
// does that).
func NewStore(db *store.DB) *Store {
	return &Store{db: db}
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Page limits.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// pageLimit returns the effective limit of p.
func pageLimit(p Page) int {
	switch {
	case p.Limit <= 0:
		return defaultPageLimit
	case p.Limit > maxPageLimit:
		return maxPageLimit
	}
	return p.Limit
}

// encodeCursor makes the opaque cursor that resumes a list after key.
func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// decodeCursor returns the key a cursor resumes after; "" starts at the
// beginning.
func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", invalid("cursor", "invalid cursor")
	}
	return string(b), nil
}

// pageOf trims items, fetched with one row more than limit, to limit and
// returns the cursor of the following page ("" when there is none).
func pageOf[T any](items []T, limit int, key func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(key(items[limit-1]))
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// querier is a *sql.DB, *store.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs query and scans every row with scan. It never returns a nil
// slice, so empty lists render as [] rather than null.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := []T{}
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// rowsAffected returns how many rows res changed.
func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// micros converts t to the stored form, unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros converts an optional time to the stored form (NULL when nil).
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros converts stored unix microseconds back to a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// timeCol scans a NOT NULL microsecond timestamp column into *t.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	us, ok := src.(int64)
	if !ok {
		return fmt.Errorf("timestamp column: unexpected %T", src)
	}
	*c.t = fromMicros(us)
	return nil
}

// nullTimeCol scans a nullable microsecond timestamp column into *t, which is
// set to nil for NULL.
type nullTimeCol struct{ t **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// jsonCol scans a JSON text column into v.
type jsonCol struct{ v any }

// Scan implements sql.Scanner.
func (c jsonCol) Scan(src any) error {
	var b []byte
	switch s := src.(type) {
	case string:
		b = []byte(s)
	case []byte:
		b = s
	default:
		return fmt.Errorf("json column: unexpected %T", src)
	}
	if err := json.Unmarshal(b, c.v); err != nil {
		return fmt.Errorf("json column: %w", err)
	}
	return nil
}

// toJSON converts v to the stored form of a JSON column.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json: %w", err)
	}
	return string(b), nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes stores nil as NULL (a driver may otherwise bind an empty blob).
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
