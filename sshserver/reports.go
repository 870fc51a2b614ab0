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
	tmp := tempPrefix + hex.EncodeToString(rnd[:]) + ".report"
	file, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write report %q of %q: %w", name, account, err)
	}
	_, err = file.Write(content)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
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
