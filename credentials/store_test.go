package credentials

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

// TestStoreSQLite runs the Store contract on a real SQLite file per subtest.
func TestStoreSQLite(t *testing.T) {
	runStoreContract(t, func(t *testing.T) *Store {
		t.Helper()
		path := filepath.Join(t.TempDir(), "sluice.db")
		db, err := store.Open(t.Context(), store.Config{Driver: store.SQLite, DSN: path}, "", slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return NewStore(db)
	})
}

// TestStoreSQLiteURICharacters guards store.Open against reading %, ? and #
// in a data directory as URI syntax (which once opened another file).
func TestStoreSQLiteURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data #1 %41?x=y")
	require.NoError(t, os.Mkdir(dir, 0o700))
	db, err := store.Open(t.Context(), store.Config{Driver: store.SQLite}, dir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, NewStore(db).CreateAccount(t.Context(), newAccount("acme")))
	require.FileExists(t, filepath.Join(dir, "sluice.db"))
}

// defaultPostgresDSN is tried when SLUICE_TEST_POSTGRES_DSN is not set.
const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// TestStorePostgres runs the Store contract on PostgreSQL, in a fresh schema
// per subtest. The server is SLUICE_TEST_POSTGRES_DSN or, when that is unset,
// a local default; when none answers the test is skipped, except in CI with
// SLUICE_TEST_POSTGRES_DSN set, where it fails.
func TestStorePostgres(t *testing.T) {
	dsn := os.Getenv("SLUICE_TEST_POSTGRES_DSN")
	explicit := dsn != ""
	if !explicit {
		dsn = defaultPostgresDSN
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
		t.Skipf("\n\n!!! SKIPPING THE POSTGRESQL STORE CONTRACT: %s\n!!! Set SLUICE_TEST_POSTGRES_DSN to a reachable server to run it.\n\n", msg)
	}

	runStoreContract(t, func(t *testing.T) *Store {
		t.Helper()
		schema := "sluice_test_" + randomHex(t, 8)
		_, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
		require.NoError(t, err)
		t.Cleanup(func() {
			// t.Context() is already cancelled when cleanups run.
			_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			require.NoError(t, err)
		})
		db, err := store.Open(t.Context(), store.Config{Driver: store.Postgres, DSN: withSearchPath(t, dsn, schema)}, "",
			slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return NewStore(db)
	})
}

// withSearchPath adds a search_path run-time parameter to a URL or
// key=value DSN.
func withSearchPath(t *testing.T, dsn, schema string) string {
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

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func TestPageLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		want  int
	}{
		{"negative", -5, 100},
		{"zero", 0, 100},
		{"one", 1, 1},
		{"max", 1000, 1000},
		{"above max", 1001, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, pageLimit(Page{Limit: tc.limit}))
		})
	}
}

func TestCursor(t *testing.T) {
	for _, key := range []string{"", "acme", "a/b+c=d", "ünïcode"} {
		t.Run(key, func(t *testing.T) {
			got, err := decodeCursor(encodeCursor(key))
			require.NoError(t, err)
			require.Equal(t, key, got)
		})
	}
	for _, bad := range []string{"!!!", "a", "abc=", "a b"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			_, err := decodeCursor(bad)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, &ValidationError{Field: "cursor", Reason: "invalid cursor"}, ve)
		})
	}
}
