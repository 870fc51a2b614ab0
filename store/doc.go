// Package store opens Sluice's SQL database — SQLite (the embedded default,
// through the pure-Go modernc.org/sqlite driver) or PostgreSQL — and brings its
// schema up to date with embedded, versioned goose migrations.
//
// It knows nothing of accounts, uploads or any other domain type: packages such
// as credentials run their own queries on the *DB it returns. Queries use
// PostgreSQL-style $1 placeholders, which both drivers accept.
//
// store imports only the standard library, its drivers and goose.
package store
