// Package storetest opens real, migrated databases for tests: a SQLite file
// in the test's temp dir, and a fresh schema on a PostgreSQL server. It is
// imported only by tests.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/store"
)

// DefaultPostgresDSN is tried when SLUICE_TEST_POSTGRES_DSN is not set.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Backend opens a fresh, migrated, empty database of one driver, closed when
// the test ends.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.DB
	// DSN returns the DSN of a fresh, empty schema (PostgreSQL only), for
	// tests that hand the database to a Sluice process.
	DSN func(t testing.TB) string
}

// SQLite opens a migrated SQLite file in t.TempDir().
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "sluice.db")},
		"", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// Backends returns SQLite and, when a server answers, PostgreSQL (a fresh
// schema per Open, dropped at cleanup). The server is SLUICE_TEST_POSTGRES_DSN
// or DefaultPostgresDSN. Without one it says so loudly in the test log; in
// CI with SLUICE_TEST_POSTGRES_DSN set, an unreachable server fails the test.
func Backends(t testing.TB) []Backend {
	t.Helper()
	backends := []Backend{{Name: store.SQLite, Open: SQLite}}
	if pg, ok := postgres(t); ok {
		backends = append(backends, pg)
	}
	return backends
}

// Postgres returns the PostgreSQL backend, or skips the test loudly (fails it
// in CI with SLUICE_TEST_POSTGRES_DSN set) when no server answers.
func Postgres(t testing.TB) Backend {
	t.Helper()
	pg, ok := postgres(t)
	if !ok {
		t.Skip("PostgreSQL is unreachable (see the log above)")
	}
	return pg
}

func postgres(t testing.TB) (Backend, bool) {
	t.Helper()
	dsn := os.Getenv("SLUICE_TEST_POSTGRES_DSN")
	explicit := dsn != ""
	if !explicit {
		dsn = DefaultPostgresDSN
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, admin.Close()) })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		msg := fmt.Sprintf("PostgreSQL at %s is unreachable: %v", redactDSN(dsn), err)
		if explicit && os.Getenv("CI") != "" {
			t.Fatalf("%s (SLUICE_TEST_POSTGRES_DSN is set in CI: the PostgreSQL store must be tested)", msg)
		}
		t.Logf("\n\n!!! SKIPPING THE POSTGRESQL VARIANT: %s\n!!! Set SLUICE_TEST_POSTGRES_DSN to a reachable server to run it.\n\n", msg)
		return Backend{}, false
	}
	freshDSN := func(t testing.TB) string {
		t.Helper()
		schema := "sluice_test_" + randomHex(t, 8)
		_, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
		require.NoError(t, err)
		t.Cleanup(func() {
			// t.Context() is already cancelled when cleanups run.
			_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			require.NoError(t, err)
		})
		return WithSearchPath(t, dsn, schema)
	}
	return Backend{Name: store.Postgres, DSN: freshDSN, Open: func(t testing.TB) *store.DB {
		t.Helper()
		db, err := store.Open(t.Context(), store.Config{Driver: store.Postgres, DSN: freshDSN(t)}, "",
			slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return db
	}}, true
}

// WithSearchPath adds a search_path run-time parameter to a URL or
// key=value DSN.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redactDSN hides a password in a URL DSN for messages.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(SLUICE_TEST_POSTGRES_DSN)"
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
