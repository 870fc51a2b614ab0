package sshserver

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/credentials"
)

// limits are an account's quotas as of login; 0 means unlimited.
type limits struct {
	bytes    int64 // total bytes in the account's tree
	files    int64 // total files in the account's tree
	fileSize int64 // bytes per file
}

func limitsOf(a credentials.Account) limits {
	return limits{bytes: a.QuotaBytes, files: a.QuotaFiles, fileSize: a.MaxFileSize}
}

// any reports whether a tree-wide quota is set.
func (l limits) any() bool { return l.bytes > 0 || l.files > 0 }

// usage counts the bytes and regular files in one account's tree, temporary
// and partial files included and /reports (filled by the pipeline, not the
// customer) excluded. All sessions of the account share one usage, so that
// quotas hold across concurrent sessions. It is safe for concurrent use;
// reservations never block.
//
// The count is taken by walking the tree when the first session that needs
// it starts, and kept up to date by writes, removals and renames while the
// account has sessions. When the last session ends the usage is dropped, so
// changes made behind Sluice's back (the pipeline, an operator) are seen at
// the next login.
type usage struct {
	bytes atomic.Int64
	files atomic.Int64

	mu     sync.Mutex // serialises the walk
	walked bool       // guarded by mu
	refs   int        // sessions holding this usage; guarded by FS.mu
}

// reserveBytes adds delta bytes unless that takes the total above limit
// (0: unlimited).
func (u *usage) reserveBytes(delta, limit int64) bool {
	return reserve(&u.bytes, delta, limit)
}

// reserveFile adds one file unless that takes the total above limit
// (0: unlimited).
func (u *usage) reserveFile(limit int64) bool {
	return reserve(&u.files, 1, limit)
}

func reserve(n *atomic.Int64, delta, limit int64) bool {
	if limit <= 0 || delta <= 0 {
		n.Add(delta)
		return true
	}
	for {
		cur := n.Load()
		if cur+delta > limit {
			return false
		}
		if n.CompareAndSwap(cur, cur+delta) {
			return true
		}
	}
}

// release gives back bytes and files.
func (u *usage) release(bytes, files int64) {
	u.bytes.Add(-bytes)
	u.files.Add(-files)
}

// ensureCounted walks the tree of root once to initialise the counts.
// Writes that other sessions make during the walk may be counted twice or
// not at all; the error is bounded by the bytes in flight and disappears at
// the next login.
func (u *usage) ensureCounted(root *os.Root) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.walked {
		return nil
	}
	var bytes, files int64
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case p == rel(reportsDir) && d.IsDir():
			return fs.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone since the directory was read
		}
		bytes += info.Size()
		files++
		return nil
	})
	if err != nil {
		return fmt.Errorf("count usage of %q: %w", root.Name(), err)
	}
	u.bytes.Store(bytes)
	u.files.Store(files)
	u.walked = true
	return nil
}

// acquireUsage returns the usage of account, creating it if no session of
// the account holds it. Each call must be paired with releaseUsage.
func (f *FS) acquireUsage(account string) *usage {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.usages[account]
	if u == nil {
		u = &usage{}
		f.usages[account] = u
	}
	u.refs++
	return u
}

// releaseUsage drops a reference taken by acquireUsage.
func (f *FS) releaseUsage(account string, u *usage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u.refs--
	if u.refs <= 0 && f.usages[account] == u {
		delete(f.usages, account)
	}
}

// liveUsage returns the usage of account if a session holds it, else nil.
func (f *FS) liveUsage(account string) *usage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usages[account]
}
