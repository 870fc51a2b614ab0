package sshserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Reports writes the pipeline's reports into the accounts' trees under
// HomeDir (the FS's home folder), where customers read them in /reports. It
// implements pipeline.ReportWriter and is safe for concurrent use.
type Reports struct {
	HomeDir string
}

// WriteReport puts a report file into the read-only /reports folder of
// account's tree, replacing one of the same name: written to a hidden
// temporary name, synced and renamed, so that a customer never reads half
// a report. The pipeline's runner calls it (pipeline.ReportWriter). It is
// safe for concurrent use.
func (f Reports) WriteReport(_ context.Context, account, name string, content []byte) error {
	root, err := f.reportsRoot(account, name)
	if err != nil {
		return err
	}
	defer root.Close()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := reportTempPrefix + hex.EncodeToString(rnd[:])
	file, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write report %q of %q: %w", name, account, err)
	}
	defer file.Close()
	// Locked while written, renamed before it is closed: RemoveStale takes
	// only the files of writers that died.
	err = syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		_, err = file.Write(content)
	}
	if err == nil {
		err = file.Sync()
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("write report %q of %q: %w", name, account, err)
	}
	return nil
}

// reportTempPrefix starts the name of a report being written.
const reportTempPrefix = reservedPrefix + "r."

// RemoveStale removes the temporary files of report writers that died (a
// crash) from every account's /reports, and returns how many. A writer
// holds an exclusive flock on its file until it renamed it into place; the
// kernel drops the lock with the process.
func (f Reports) RemoveStale(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(f.HomeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		dir := filepath.Join(f.HomeDir, e.Name(), rel(reportsDir))
		files, err := os.ReadDir(dir)
		if err != nil || !e.IsDir() {
			continue
		}
		for _, r := range files {
			if !strings.HasPrefix(r.Name(), reportTempPrefix) {
				continue
			}
			p := filepath.Join(dir, r.Name())
			file, err := os.Open(p)
			if err != nil {
				continue
			}
			if syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && os.Remove(p) == nil {
				n++
			}
			file.Close()
		}
	}
	return n, nil
}

// RemoveReport removes a report file from account's /reports folder; a
// missing file is not an error. It is safe for concurrent use.
func (f Reports) RemoveReport(_ context.Context, account, name string) error {
	root, err := f.reportsRoot(account, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove report %q of %q: %w", name, account, err)
	}
	return nil
}

// reportsRoot opens the /reports folder of account, creating it and the
// account's folder if missing, after checking both names.
func (f Reports) reportsRoot(account, name string) (*os.Root, error) {
	if account == "" || path.Base(account) != account || checkName(account) != nil || account == "." || account == ".." {
		return nil, fmt.Errorf("report: account name %q is not a folder name", account)
	}
	if name == "" || path.Base(name) != name || checkName(name) != nil || name == "." || name == ".." {
		return nil, fmt.Errorf("report: %q is not a report file name", name)
	}
	dir := filepath.Join(f.HomeDir, account, rel(reportsDir))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("report: create %q: %w", dir, err)
	}
	return os.OpenRoot(dir)
}
