package credentials

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// TestStoreSQLite runs the Store contract on a real SQLite file per subtest.
func TestStoreSQLite(t *testing.T) {
	runStoreContract(t, func(t *testing.T) *Store {
		t.Helper()
		return NewStore(storetest.SQLite(t))
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

// TestStorePostgres runs the Store contract on PostgreSQL, in a fresh schema
// per subtest. The server is SLUICE_TEST_POSTGRES_DSN or, when that is unset,
// a local default; when none answers the test is skipped, except in CI with
// SLUICE_TEST_POSTGRES_DSN set, where it fails.
func TestStorePostgres(t *testing.T) {
	pg := storetest.Postgres(t)
	runStoreContract(t, func(t *testing.T) *Store {
		t.Helper()
		return NewStore(pg.Open(t))
	})
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
