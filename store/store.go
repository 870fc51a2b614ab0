package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

//go:embed migrations
var migrations embed.FS

// Config selects and locates the database.
type Config struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver" koanf:"driver"`
	// DSN is the data source name. For sqlite it is a file path; empty means
	// sluice.db in the data directory. For postgres it is a libpq URL or
	// key=value string.
	DSN string `yaml:"dsn" koanf:"dsn"`
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	switch c.Driver {
	case SQLite:
	case Postgres:
		if c.DSN == "" {
			return errors.New("store.dsn: required when store.driver is postgres")
		}
	default:
		return fmt.Errorf("store.driver: %q is not one of sqlite, postgres", c.Driver)
	}
	return nil
}

// DB is an open, migrated database. It is safe for concurrent use.
type DB struct {
	*sql.DB
	driver string
}

// Driver returns the name of the driver in use ("sqlite" or "postgres").
func (db *DB) Driver() string { return db.driver }

// Open opens the database described by cfg and applies all pending
// migrations. For sqlite an empty DSN means dataDir/sluice.db. It blocks until
// the migrations are applied.
func Open(ctx context.Context, cfg Config, dataDir string, logger *slog.Logger) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		sqldb *sql.DB
		err   error
	)
	switch cfg.Driver {
	case SQLite:
		path := cfg.DSN
		if path == "" {
			path = filepath.Join(dataDir, "sluice.db")
		}
		sqldb, err = openSQLite(path)
	case Postgres:
		sqldb, err = openPostgres(cfg.DSN)
	}
	if err != nil {
		return nil, err
	}
	db := &DB{DB: sqldb, driver: cfg.Driver}
	if err := db.migrate(ctx, logger); err != nil {
		sqldb.Close()
		return nil, err
	}
	return db, nil
}

// openSQLite opens path in WAL mode, synchronous FULL, with foreign keys on
// and a busy timeout,
// so that concurrent writers wait instead of failing with SQLITE_BUSY.
func openSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	// The pragmas run in this order on every new connection: the busy
	// timeout comes first so that it already applies to journal_mode, which
	// needs a lock.
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		// FULL: every commit syncs the WAL. An upload's row is the truth
		// the client's close reply promises; with NORMAL a power loss (not
		// a process crash) could roll back a commit the client was told
		// succeeded, leaving an fsynced file no record points to.
		"synchronous(FULL)",
		"foreign_keys(1)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// A "file:" name is passed to SQLite whole and read as a URI: escape
	// the characters its parser gives a meaning to, so that a path holding
	// them names the file it says.
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	dsn := "file:" + escaped + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context, logger *slog.Logger) error {
	dialect := goose.DialectSQLite3
	if db.driver == Postgres {
		dialect = goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, "migrations/"+db.driver)
	if err != nil {
		return fmt.Errorf("migrations for %s: %w", db.driver, err)
	}
	p, err := goose.NewProvider(dialect, db.DB, sub)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		logger.Info("migration applied", "driver", db.driver, "version", r.Source.Version, "file", r.Source.Path)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint violation in
// either driver.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

// InTx runs fn in a transaction and commits it when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
