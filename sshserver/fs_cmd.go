package sshserver

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// Filecmd runs setstat, rename, rmdir, mkdir, remove, link and symlink
// (pkg/sftp's FileCmder).
func (h *handler) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		return h.setstat(r)
	case "Rename":
		return h.rename(r.Context(), r.Filepath, r.Target, false)
	case "Rmdir":
		return h.rmdir(r.Filepath)
	case "Mkdir":
		return h.mkdir(r.Filepath)
	case "Remove":
		return h.remove(r.Filepath)
	case "Link", "Symlink":
		return denied("permission denied: links cannot be created")
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename renames, replacing an existing target
// (posix-rename@openssh.com).
func (h *handler) PosixRename(r *sftp.Request) error {
	return h.rename(r.Context(), r.Filepath, r.Target, true)
}

// setstat honours times and, on a file being uploaded in this session, size.
// Files are always 0600 and folders 0700 for the server's own user, so that
// the pipeline can read them: permission and ownership changes are accepted
// and ignored.
func (h *handler) setstat(r *sftp.Request) error {
	vpath, err := cleanPath(r.Filepath)
	if err != nil {
		return err
	}
	if readOnly(vpath) {
		return denied("permission denied: %s is read-only", reportsDir)
	}
	flags, attrs := r.AttrFlags(), r.Attributes()
	w := h.openUpload(vpath)
	if flags.Size {
		if w != nil {
			if err := w.truncate(int64(attrs.Size)); err != nil {
				return err
			}
		} else if info, err := h.stat(vpath, true); err != nil {
			return err
		} else if info.Size() != int64(attrs.Size) {
			return denied("permission denied: a received file cannot be truncated")
		}
	}
	if flags.Acmodtime {
		target := rel(vpath)
		if w != nil {
			target = w.tempRel
		}
		atime, mtime := time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)
		err := h.root.Chtimes(target, atime, mtime)
		if errors.Is(err, fs.ErrNotExist) && w == nil && vpath != "/" {
			err = h.root.Chtimes(h.partialOf(vpath), atime, mtime)
		}
		if err != nil {
			return h.status("setstat", vpath, err)
		}
	}
	return nil
}

// mkdir creates a folder.
func (h *handler) mkdir(p string) error {
	vpath, err := cleanPath(p)
	if err != nil {
		return err
	}
	switch {
	case vpath == "/":
		return failure("file exists: /")
	case readOnly(vpath):
		return denied("permission denied: %s is read-only", reportsDir)
	}
	return h.status("mkdir", vpath, h.root.Mkdir(rel(vpath), 0o700))
}

// remove removes a file, and any cut-off upload kept under its name.
func (h *handler) remove(p string) error {
	vpath, err := cleanPath(p)
	if err != nil {
		return err
	}
	switch {
	case vpath == "/":
		return failure("is a directory: /")
	case readOnly(vpath):
		return denied("permission denied: %s is read-only", reportsDir)
	}
	removed := false
	info, err := h.root.Lstat(rel(vpath))
	switch {
	case err == nil && info.IsDir():
		return failure("is a directory: %s", vpath)
	case err == nil:
		if err := h.root.Remove(rel(vpath)); err != nil {
			return h.status("remove", vpath, err)
		}
		if info.Mode().IsRegular() {
			h.usage.release(info.Size(), 1)
		}
		removed = true
	case !errors.Is(err, fs.ErrNotExist):
		return h.status("remove", vpath, err)
	}
	if h.removePartial(h.partialOf(vpath)) {
		removed = true
	}
	if !removed {
		return notFound(vpath)
	}
	return nil
}

// rmdir removes an empty folder. Leftovers of cut-off uploads do not count:
// the client cannot see them.
func (h *handler) rmdir(p string) error {
	vpath, err := cleanPath(p)
	if err != nil {
		return err
	}
	switch {
	case vpath == "/":
		return denied("permission denied: the root folder cannot be removed")
	case readOnly(vpath):
		return denied("permission denied: %s is read-only", reportsDir)
	}
	info, err := h.root.Lstat(rel(vpath))
	if err != nil {
		return h.status("rmdir", vpath, err)
	}
	if !info.IsDir() {
		return failure("not a directory: %s", vpath)
	}
	err = h.root.Remove(rel(vpath))
	if (errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist)) && h.clearLeftovers(rel(vpath)) {
		err = h.root.Remove(rel(vpath))
	}
	return h.status("rmdir", vpath, err)
}

// clearLeftovers removes Sluice's own files from a folder that holds nothing
// else, unless an upload is being written there, and reports whether it did.
func (h *handler) clearLeftovers(relDir string) bool {
	d, err := h.root.Open(relDir)
	if err != nil {
		return false
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return false
	}
	for _, name := range names {
		if !strings.HasPrefix(name, reservedPrefix) || h.fs.isActive(activeKey(h.account, path.Join(relDir, name))) {
			return false
		}
	}
	for _, name := range names {
		h.removePartial(path.Join(relDir, name))
	}
	return true
}

// rename moves a file or folder. A plain rename refuses an existing target,
// as OpenSSH's server does; posix-rename replaces it. Renaming a file with a
// temporary name (x.filepart) to a final one (x) finishes an upload: it is
// checked against the target's feed and handed to the UploadSink, exactly
// once.
func (h *handler) rename(ctx context.Context, from, to string, replace bool) error {
	src, err := cleanPath(from)
	if err != nil {
		return err
	}
	dst, err := cleanPath(to)
	if err != nil {
		return err
	}
	switch {
	case src == "/" || dst == "/":
		return denied("permission denied: the root folder cannot be renamed")
	case readOnly(src) || readOnly(dst):
		return denied("permission denied: %s is read-only", reportsDir)
	case src == dst:
		return nil
	}
	srcRel, dstRel := rel(src), rel(dst)
	target, err := h.root.Lstat(dstRel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return h.status("rename", dst, err)
	}
	if target != nil && !replace {
		return failure("file exists: %s", dst)
	}
	info, err := h.root.Lstat(srcRel)
	if errors.Is(err, fs.ErrNotExist) {
		return h.renamePartial(src, dst)
	}
	if err != nil {
		return h.status("rename", src, err)
	}
	if info.Mode().IsRegular() && h.fs.temps.match(path.Base(src)) && !h.fs.temps.match(path.Base(dst)) {
		return h.finishRename(ctx, src, dst, info, target)
	}
	if err := h.root.Rename(srcRel, dstRel); err != nil {
		return h.status("rename", src, err)
	}
	if target != nil && target.Mode().IsRegular() && !os.SameFile(info, target) {
		h.usage.release(target.Size(), 1)
	}
	if c, ok := h.fs.takeSum(activeKey(h.account, srcRel), info); ok && info.Mode().IsRegular() {
		h.fs.rememberSum(activeKey(h.account, dstRel), info, c.sum, c.opened)
	}
	return nil
}

// finishRename renames the temporary-name file src to the final name dst
// (target is what dst was, or nil), which finishes an upload: the file is
// checked against dst's feed, moved, and handed on; its outcome is logged
// and counted once.
func (h *handler) finishRename(ctx context.Context, src, dst string, info, target fs.FileInfo) error {
	c, err := h.checkRenamed(ctx, src, dst, info)
	var id string
	if err == nil {
		id, err = h.moveRenamed(ctx, src, dst, info, target, c.sum)
	}
	h.uploadEnded(dst, info.Size(), c.opened, id, err)
	return err
}

// moveRenamed renames a checked upload into place and hands it on.
func (h *handler) moveRenamed(ctx context.Context, src, dst string, info, target fs.FileInfo, sum string) (string, error) {
	srcRel, dstRel := rel(src), rel(dst)
	if err := h.root.Rename(srcRel, dstRel); err != nil {
		return "", h.status("rename", src, err)
	}
	if target != nil && target.Mode().IsRegular() && !os.SameFile(info, target) {
		h.usage.release(target.Size(), 1)
	}
	h.removePartial(h.partialOf(dst)) // superseded by this upload
	for _, dir := range []string{path.Dir(dstRel), path.Dir(srcRel)} {
		if err := h.syncDir(dir); err != nil {
			h.logger.Warn("sync folder after rename", "path", dst, "err", err)
		}
	}
	return h.handOn(ctx, dst, dstRel, info.Size(), sum, time.Now().UTC())
}

// checkRenamed applies the target feed's rules to a temporary-name file
// being renamed to a final name and returns its checksum and, when this
// server wrote it, when it was opened. A refused file is removed.
func (h *handler) checkRenamed(ctx context.Context, src, dst string, info fs.FileInfo) (cachedSum, error) {
	srcRel := rel(src)
	f, err := h.root.Open(srcRel)
	if err != nil {
		return cachedSum{}, h.status("rename", src, err)
	}
	defer f.Close()
	req, err := h.requiresEncryption(ctx, dst)
	if err != nil {
		h.logger.Error("look up feed", "path", dst, "err", err)
		return cachedSum{}, failure("the server could not check %s; try again", dst)
	}
	if req {
		ok, err := isEncrypted(f)
		if err != nil {
			return cachedSum{}, h.status("rename", src, err)
		}
		if !ok {
			if err := h.root.Remove(srcRel); err == nil {
				h.usage.release(info.Size(), 1)
			}
			return cachedSum{}, errEncryptionRequired
		}
	}
	if c, ok := h.fs.takeSum(activeKey(h.account, srcRel), info); ok {
		return c, nil
	}
	sum, err := hashFile(f, info.Size(), &h.fs.bufs)
	if err != nil {
		return cachedSum{}, h.status("rename", src, err)
	}
	return cachedSum{sum: sum}, nil
}

// renamePartial moves a cut-off upload, the only thing under the name src,
// along with a rename: it stays a resumable partial file.
func (h *handler) renamePartial(src, dst string) error {
	from, to := h.partialOf(src), h.partialOf(dst)
	if info, err := h.root.Lstat(from); err != nil || !info.Mode().IsRegular() {
		return notFound(src)
	}
	h.removePartial(to)
	return h.status("rename", src, h.root.Rename(from, to))
}

// StatVFS reports the account's quota as the file system's size and what is
// left of it as free space; without a quota, the disk's own figures
// (statvfs@openssh.com).
func (h *handler) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	vpath, err := cleanPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	st, err := diskStats(h.home)
	if err != nil && !h.limits.any() {
		return nil, h.status("statvfs", vpath, err)
	}
	if st == nil {
		st = &sftp.StatVFS{}
	}
	if h.limits.bytes > 0 {
		const bsize = 4096
		free := max(0, h.limits.bytes-h.usage.bytes.Load())
		if st.Frsize > 0 {
			free = min(free, int64(st.Bavail*st.Frsize))
		}
		st.Bsize, st.Frsize = bsize, bsize
		st.Blocks = uint64((h.limits.bytes + bsize - 1) / bsize)
		st.Bfree = uint64(free / bsize)
		st.Bavail = st.Bfree
	}
	if h.limits.files > 0 {
		st.Files = uint64(h.limits.files)
		st.Ffree = uint64(max(0, h.limits.files-h.usage.files.Load()))
		st.Favail = st.Ffree
	}
	if readOnly(vpath) {
		st.Flag |= stReadOnly
	}
	st.Namemax = maxNameLen
	return st, nil
}
