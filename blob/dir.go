package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Dir is a Store on local disk: blob "a/b" is the file a/b under
// the folder, every path resolved through an os.Root. A blob becomes visible
// only when its writer commits: it is written to a hidden temporary file,
// fsynced, and renamed into place. Dir is safe for concurrent use.
type Dir struct {
	root *os.Root

	mu sync.Mutex
	// folders holds up to maxFolders folders ImportFile made or checked
	// through root: it links into them without making them again.
	folders map[string]struct{}
}

// maxFolders bounds the folders a Dir remembers: keys that spread over more
// folders than that pay a mkdir per import, as they would without it.
const maxFolders = 256

var _ Store = (*Dir)(nil)

// Open returns a Dir storing blobs under dir, creating it if needed.
func Open(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create blob folder %q: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob folder %q: %w", dir, err)
	}
	return &Dir{root: root, folders: make(map[string]struct{})}, nil
}

// Close releases the folder.
func (d *Dir) Close() error { return d.root.Close() }

// checkKey reports whether key is a valid blob key.
func checkKey(key string) error {
	if key == "" || len(key) > 1024 || path.Clean(key) != key || strings.HasPrefix(key, "/") {
		return fmt.Errorf("invalid blob key %q", key)
	}
	for _, elem := range strings.Split(key, "/") {
		if elem == "." || elem == ".." || strings.HasPrefix(elem, ".tmp-") {
			return fmt.Errorf("invalid blob key %q", key)
		}
		for _, r := range elem {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				return fmt.Errorf("invalid blob key %q", key)
			}
		}
	}
	return nil
}

// Open opens blob key for reading.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := d.root.Open(key)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return f, nil
}

// Create starts writing blob key.
func (d *Dir) Create(_ context.Context, key string) (Writer, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	dir := path.Dir(key)
	if dir != "." {
		if err := d.root.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create blob folder %q: %w", dir, err)
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, ".tmp-"+hex.EncodeToString(rnd[:])+"-"+path.Base(key))
	f, err := d.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create blob %q: %w", key, err)
	}
	// The lock marks the file as being written: it lasts as long as the
	// writer's process, however that ends (see RemoveStale).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		_ = d.root.Remove(tmp)
		return nil, fmt.Errorf("lock blob %q: %w", key, err)
	}
	return &writer{d: d, f: f, tmp: tmp, key: key}, nil
}

// Remove deletes blob key; a missing blob is not an error.
func (d *Dir) Remove(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob: %w", err)
	}
	return nil
}

// writer writes one blob into its temporary file.
type writer struct {
	d        *Dir
	f        *os.File
	tmp, key string
	done     bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write blob %q: already committed or aborted", w.key)
	}
	return w.f.Write(p)
}

// Commit fsyncs the blob, renames it into place and fsyncs its folder.
func (w *writer) Commit() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.f.Sync(); err != nil {
		w.abort()
		return fmt.Errorf("sync blob %q: %w", w.key, err)
	}
	// Renamed while still open, so still locked: RemoveStale never takes
	// a temporary file whose writer is alive.
	if err := w.d.root.Rename(w.tmp, w.key); err != nil {
		w.abort()
		return fmt.Errorf("commit blob %q: %w", w.key, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close blob %q: %w", w.key, err)
	}
	dir, err := w.d.root.Open(path.Dir(w.key))
	if err != nil {
		return fmt.Errorf("sync folder of blob %q: %w", w.key, err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("sync folder of blob %q: %w", w.key, err)
	}
	return nil
}

// Abort discards the blob.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.abort()
}

func (w *writer) abort() error {
	w.f.Close()
	if err := w.d.root.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discard blob %q: %w", w.key, err)
	}
	return nil
}

// ImportFile makes the file at path blob key with a hard link: no byte is
// copied, and the blob lives on when the file is removed or replaced by a
// rename. A file on another file system is copied instead. The link is not
// synced: the caller keeps the file until it no longer needs it, and can
// import it again after a crash.
//
// The key's folder is made (through the root, which refuses a planted
// symbolic link) the first time this Dir imports into it, and again only
// when it has gone: a folder of many blobs costs one mkdir, not one per
// import. A mkdir is a costly metadata operation, several times a link.
func (d *Dir) ImportFile(ctx context.Context, key, src string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dir := path.Dir(key)
	if err := d.ensureFolder(dir, false); err != nil {
		return err
	}
	dst := filepath.Join(d.root.Name(), filepath.FromSlash(key))
	err := os.Link(src, dst)
	if errors.Is(err, fs.ErrNotExist) && dir != "." {
		// The folder was removed since, or src is missing: make the folder
		// again and retry; a missing src fails again, and below.
		if err := d.ensureFolder(dir, true); err != nil {
			return err
		}
		err = os.Link(src, dst)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		if same, serr := d.SameFile(ctx, key, src); serr == nil && same {
			return nil
		}
		if err := d.root.Remove(key); err != nil {
			return fmt.Errorf("replace blob %q: %w", key, err)
		}
		if err := os.Link(src, dst); err == nil {
			return nil
		}
	}
	// Another file system, or links not allowed: copy.
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("import %q as blob %q: %w", src, key, err)
	}
	defer f.Close()
	w, err := d.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		_ = w.Abort()
		return fmt.Errorf("import %q as blob %q: %w", src, key, err)
	}
	return w.Commit()
}

// ensureFolder makes the folder dir (a key without its last element) unless
// ImportFile made or found it before; again makes it anyway.
func (d *Dir) ensureFolder(dir string, again bool) error {
	if dir == "." {
		return nil
	}
	d.mu.Lock()
	_, known := d.folders[dir]
	d.mu.Unlock()
	if known && !again {
		return nil
	}
	if err := d.root.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create blob folder %q: %w", dir, err)
	}
	d.mu.Lock()
	if len(d.folders) < maxFolders {
		d.folders[dir] = struct{}{}
	}
	d.mu.Unlock()
	return nil
}

// SameFile reports whether the file at path is blob key (the same inode). A
// missing blob or file is false, not an error.
func (d *Dir) SameFile(_ context.Context, key, src string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	bi, err := d.root.Stat(key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat blob %q: %w", key, err)
	}
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(bi, fi), nil
}

// RemoveAll deletes the folder prefix and every blob in it.
func (d *Dir) RemoveAll(_ context.Context, prefix string) error {
	if err := checkKey(prefix); err != nil {
		return err
	}
	if err := d.root.RemoveAll(prefix); err != nil {
		return fmt.Errorf("remove blobs %q: %w", prefix, err)
	}
	return nil
}

// RemoveStale removes the temporary files of writers that neither
// committed nor aborted because their process died (a crash, kill -9), and
// returns how many it removed. A writer holds an exclusive flock on its
// temporary file until it commits or aborts, and the kernel drops the lock
// with the process: a file whose lock RemoveStale can take has no writer
// left, in this process or any other sharing the folder.
func (d *Dir) RemoveStale(ctx context.Context) (int, error) {
	n := 0
	err := fs.WalkDir(d.root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		f, err := d.root.OpenFile(p, os.O_RDONLY, 0)
		if err != nil {
			return nil
		}
		defer f.Close()
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			return nil // a live writer
		}
		if err := d.root.Remove(p); err == nil {
			n++
		}
		return nil
	})
	return n, err
}

// Path returns the folder the blobs are stored in.
func (d *Dir) Path() string { return d.root.Name() }
