package sshserver

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"github.com/prometheus/client_golang/prometheus"
)

// Fileread opens a file for reading (pkg/sftp's FileReader). A name whose
// only content is a cut-off upload reads that partial file.
func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	vpath, err := cleanPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	relPath := rel(vpath)
	info, err := h.root.Stat(relPath)
	if errors.Is(err, fs.ErrNotExist) && vpath != "/" {
		relPath = h.partialOf(vpath)
		info, err = h.root.Lstat(relPath)
		if err != nil {
			return nil, notFound(vpath)
		}
	}
	switch {
	case err != nil:
		return nil, h.status("open", vpath, err)
	case info.IsDir():
		return nil, failure("is a directory: %s", vpath)
	case !info.Mode().IsRegular():
		return nil, denied("permission denied: %s is not a regular file", vpath)
	}
	f, err := h.root.Open(relPath)
	if err != nil {
		return nil, h.status("open", vpath, err)
	}
	return download{f, h.fs.metrics.sent}, nil
}

// download is a file open for reading that counts the bytes it sends.
type download struct {
	f    *os.File
	sent prometheus.Counter
}

// ReadAt reads from the file; pkg/sftp may call it concurrently.
func (d download) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.f.ReadAt(p, off)
	d.sent.Add(float64(n))
	return n, err
}

// Close closes the file; pkg/sftp calls it when the client closes its handle.
func (d download) Close() error { return d.f.Close() }

// Filelist lists a folder or stats a path (pkg/sftp's FileLister).
func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	vpath, err := cleanPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	switch r.Method {
	case "List":
		return h.list(vpath)
	case "Stat":
		info, err := h.stat(vpath, true)
		if err != nil {
			return nil, err
		}
		return listerAt{info}, nil
	case "Readlink":
		return nil, h.readlinkDenied()
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// Lstat stats a path without following a final symbolic link.
func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	vpath, err := cleanPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	info, err := h.stat(vpath, false)
	if err != nil {
		return nil, err
	}
	return listerAt{info}, nil
}

// RealPath returns the clean absolute virtual path of p.
func (h *handler) RealPath(p string) (string, error) {
	return cleanPath(p)
}

// Readlink is refused: customers cannot make links, and a link planted on
// disk must not reveal where it points.
func (h *handler) Readlink(string) (string, error) {
	return "", h.readlinkDenied()
}

func (h *handler) readlinkDenied() error {
	return denied("permission denied: symbolic links are not supported")
}

// LookupUserName names the owner of every file in listings: the account.
func (h *handler) LookupUserName(string) string { return h.account }

// LookupGroupName names the group of every file in listings: the account.
func (h *handler) LookupGroupName(string) string { return h.account }

// partialOf returns the root-relative path of the partial file of vpath.
func (h *handler) partialOf(vpath string) string {
	dir, base := path.Split(vpath)
	return path.Join(rel(path.Clean(dir)), partialName(base))
}

// stat returns what the client sees at vpath: this session's own upload in
// progress, else a cut-off upload kept for resume (so that a client resuming
// sees the size it reached), else the file or folder itself.
func (h *handler) stat(vpath string, follow bool) (fs.FileInfo, error) {
	if vpath == "/" {
		info, err := h.root.Stat(".")
		if err != nil {
			return nil, h.status("stat", vpath, err)
		}
		return namedInfo{info, "/"}, nil
	}
	base := path.Base(vpath)
	if w := h.openUpload(vpath); w != nil {
		if info, err := w.stat(); err == nil {
			return info, nil
		}
	}
	var info fs.FileInfo
	var err error
	if follow {
		info, err = h.root.Stat(rel(vpath))
	} else {
		info, err = h.root.Lstat(rel(vpath))
	}
	if err == nil && info.IsDir() {
		return namedInfo{info, base}, nil
	}
	if p, perr := h.root.Lstat(h.partialOf(vpath)); perr == nil && p.Mode().IsRegular() {
		return namedInfo{p, base}, nil
	}
	switch {
	case err == nil:
		return namedInfo{info, base}, nil
	case vpath == reportsDir && errors.Is(err, fs.ErrNotExist):
		return virtualDir(path.Base(reportsDir)), nil
	}
	return nil, h.status("stat", vpath, err)
}

// list returns the entries of the folder vpath as the client sees them:
// Sluice's own files hidden, cut-off uploads under their target names.
func (h *handler) list(vpath string) (sftp.ListerAt, error) {
	d, err := h.root.Open(rel(vpath))
	if err != nil {
		if vpath == reportsDir && errors.Is(err, fs.ErrNotExist) {
			return listerAt{}, nil
		}
		return nil, h.status("opendir", vpath, err)
	}
	defer d.Close()
	if info, err := d.Stat(); err != nil {
		return nil, h.status("opendir", vpath, err)
	} else if !info.IsDir() {
		return nil, failure("not a directory: %s", vpath)
	}
	infos, err := d.Readdir(-1)
	if err != nil {
		return nil, h.status("readdir", vpath, err)
	}
	entries := make(listerAt, 0, len(infos)+1)
	var partials map[string]fs.FileInfo
	for _, info := range infos {
		name := info.Name()
		if strings.HasPrefix(name, reservedPrefix) {
			if target, ok := partialTarget(name); ok && info.Mode().IsRegular() {
				if partials == nil {
					partials = make(map[string]fs.FileInfo)
				}
				partials[target] = info
			}
			continue
		}
		if checkName(name) != nil {
			continue // a name no client could use
		}
		entries = append(entries, info)
	}
	for i, info := range entries {
		if p, ok := partials[info.Name()]; ok {
			if !info.IsDir() { // a folder is never hidden by a partial file
				entries[i] = namedInfo{p, info.Name()}
			}
			delete(partials, info.Name())
		}
	}
	for target, p := range partials {
		entries = append(entries, namedInfo{p, target})
	}
	if vpath == "/" && !slices.ContainsFunc(entries, func(e fs.FileInfo) bool { return e.Name() == path.Base(reportsDir) }) {
		entries = append(entries, virtualDir(path.Base(reportsDir)))
	}
	slices.SortFunc(entries, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// listerAt serves a list of file infos to pkg/sftp.
type listerAt []fs.FileInfo

// ListAt copies the entries from off on into dst.
func (l listerAt) ListAt(dst []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// namedInfo is a file info under another name.
type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }

// virtualDir is the file info of a read-only folder that is not on disk.
type virtualDir string

func (v virtualDir) Name() string       { return string(v) }
func (v virtualDir) Size() int64        { return 0 }
func (v virtualDir) Mode() fs.FileMode  { return fs.ModeDir | 0o500 }
func (v virtualDir) ModTime() time.Time { return time.Unix(0, 0) }
func (v virtualDir) IsDir() bool        { return true }
func (v virtualDir) Sys() any           { return nil }
