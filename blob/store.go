package blob

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Store stores file contents by key. Keys are relative slash-separated paths
// of [A-Za-z0-9._-] elements. Implementations are safe for concurrent use.
type Store interface {
	// Open opens the blob key for reading; a missing key is an error
	// wrapping fs.ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Create starts writing the blob key. Nothing is visible under key
	// until Commit, which replaces an earlier blob of the same key.
	Create(ctx context.Context, key string) (Writer, error)
	// Remove deletes the blob key; a missing key is not an error.
	Remove(ctx context.Context, key string) error
	// RemoveAll deletes every blob whose key is in the folder prefix (a
	// key without a trailing slash); none is not an error.
	RemoveAll(ctx context.Context, prefix string) error
}

// Importer is a Store that can take a local file as a blob without copying
// its bytes, such as Dir with a hard link.
type Importer interface {
	// ImportFile makes the file at path the blob key, durably. The file must
	// not change afterwards.
	ImportFile(ctx context.Context, key, path string) error
}

// Stater is a Store on the local file system that can tell whether a local
// file is the very blob (the same inode).
type Stater interface {
	// SameFile reports whether the file at path is blob key.
	SameFile(ctx context.Context, key, path string) (bool, error)
}

// Import makes the local file at path the blob key: with ImportFile where s
// implements Importer, by streaming a copy otherwise. It blocks until the
// blob is durable.
func Import(ctx context.Context, s Store, key, path string) error {
	if im, ok := s.(Importer); ok {
		return im.ImportFile(ctx, key, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %q as blob %q: %w", path, key, err)
	}
	defer f.Close()
	w, err := s.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		_ = w.Abort()
		return fmt.Errorf("import %q as blob %q: %w", path, key, err)
	}
	return w.Commit()
}

// Writer writes one blob. Exactly one of Commit and Abort must be
// called; both are safe to call after the other (no-ops).
type Writer interface {
	io.Writer
	// Commit makes the written bytes durable and visible under the key.
	Commit() error
	// Abort discards what was written.
	Abort() error
}
