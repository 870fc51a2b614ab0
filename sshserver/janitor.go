package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RunJanitor removes, at once and then every interval until ctx is done,
// the cut-off uploads kept for resume that were last written more than
// PartialRetention ago, and temporary files a crash left behind. Files of
// uploads being written are never touched. It blocks until ctx is done, then
// returns nil; it is safe to run alongside sessions.
func (f *FS) RunJanitor(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("run janitor: interval %s is not positive", every)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		f.sweep(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// sweep makes one pass over all account folders and returns how many files
// it removed.
func (f *FS) sweep(ctx context.Context, now time.Time) int {
	entries, err := os.ReadDir(f.cfg.HomeDir)
	if err != nil {
		f.logger.ErrorContext(ctx, "janitor: read home folder", "err", err)
		return 0
	}
	cutoff := now.Add(-f.cfg.PartialRetention)
	removed := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		if e.IsDir() { // not a symbolic link
			removed += f.sweepAccount(ctx, e.Name(), cutoff)
		}
	}
	if removed > 0 {
		f.logger.InfoContext(ctx, "janitor: removed expired partial uploads", "files", removed)
	}
	return removed
}

// sweepAccount removes the expired files of one account.
func (f *FS) sweepAccount(ctx context.Context, account string, cutoff time.Time) int {
	root, err := os.OpenRoot(filepath.Join(f.cfg.HomeDir, account))
	if err != nil {
		f.logger.ErrorContext(ctx, "janitor: open account folder", "account", account, "err", err)
		return 0
	}
	defer root.Close()
	removed := 0
	walkErr := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case ctx.Err() != nil:
			return fs.SkipAll
		case err != nil:
			return nil // an unreadable folder: skip it
		case !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), reservedPrefix):
			return nil
		case f.isActive(activeKey(account, p)):
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		if err := root.Remove(p); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				f.logger.ErrorContext(ctx, "janitor: remove partial upload", "account", account, "path", "/"+p, "err", err)
			}
			return nil
		}
		if u := f.liveUsage(account); u != nil {
			u.release(info.Size(), 1)
		}
		removed++
		return nil
	})
	if walkErr != nil {
		f.logger.ErrorContext(ctx, "janitor: walk account folder", "account", account, "err", walkErr)
	}
	return removed
}
