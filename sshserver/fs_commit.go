package sshserver

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Close finishes the upload. After a complete transfer the file is checked
// against its feed's rules, synced, renamed into place, its folder synced,
// and the upload handed to the UploadSink (unless its name is a temporary
// one). After a cut-off transfer, or when the server cannot finish it, the
// file is kept for resume and Close fails. Every outcome but the close of a
// temporary name that succeeded (not an upload yet) is logged and counted
// once (see handler.uploadEnded). Close is idempotent.
func (w *upload) Close() error {
	w.closeOnce.Do(func() {
		defer w.h.forget(w)
		defer w.h.fs.setActive(activeKey(w.h.account, w.tempRel), false)
		defer w.hash.release()
		var id string
		size := w.size.Load()
		switch failed := w.failed.Load(); {
		case w.aborted.Load():
			w.detach("cut off")
			w.closeErr = errTransferAborted
		case failed != nil && (*failed == errQuotaExceeded || *failed == errFileTooLarge):
			// Resuming would fail the same way: give the space back.
			w.discard()
			w.closeErr = *failed
		case failed != nil:
			w.detach("write failed")
			w.closeErr = *failed
		default:
			id, w.closeErr = w.commit()
			if w.closeErr == nil {
				size = w.size.Load()
			}
		}
		if !w.tempName || w.closeErr != nil {
			w.h.uploadEnded(w.vpath, size, w.opened, id, w.closeErr)
		}
	})
	return w.closeErr
}

// commit moves a complete upload into place and hands it on, returning the
// id the UploadSink gave it ("" for a temporary name).
func (w *upload) commit() (string, error) {
	h := w.h
	info, err := w.file.Stat()
	if err != nil {
		w.detach("stat")
		return "", h.status("close", w.vpath, err)
	}
	size := info.Size()
	if d := size - w.size.Load(); d != 0 {
		h.usage.reserveBytes(d, 0) // reconcile with what is on disk
		w.size.Store(size)
	}
	if !w.tempName {
		req, err := h.requiresEncryption(w.ctx, w.vpath)
		if err != nil {
			h.logger.Error("look up feed", "path", w.vpath, "err", err)
			w.detach("feed lookup failed")
			return "", failure("the server could not check %s; it is kept, resume or upload it again", w.vpath)
		}
		if req {
			ok, err := isEncrypted(w.file)
			if err != nil {
				w.detach("read head")
				return "", h.status("close", w.vpath, err)
			}
			if !ok {
				w.discard()
				return "", errEncryptionRequired
			}
		}
	}
	sum, err := w.hash.finish(size)
	if err != nil {
		h.logger.Error("hash upload", "path", w.vpath, "err", err)
		w.detach("hash failed")
		return "", h.status("close", w.vpath, err)
	}
	if err := w.file.Sync(); err != nil {
		w.detach("sync failed")
		return "", h.status("close", w.vpath, err)
	}
	if err := w.closeFile(); err != nil {
		w.detach("close failed")
		return "", h.status("close", w.vpath, err)
	}
	// Resolved once for the rename, the partial file and the sync.
	folder, err := h.root.OpenRoot(w.relDir)
	if err != nil {
		w.detach("rename failed")
		return "", h.status("close", w.vpath, err)
	}
	defer folder.Close()
	replaced, replacedErr := folder.Lstat(w.base)
	if err := folder.Rename(w.tempBase, w.base); err != nil {
		w.detach("rename failed")
		return "", h.status("close", w.vpath, err)
	}
	if replacedErr == nil && replaced.Mode().IsRegular() {
		h.usage.release(replaced.Size(), 1)
	}
	h.removePartialIn(folder, w.partialBase) // superseded by this upload
	if err := syncFolder(folder); err != nil {
		h.logger.Warn("sync folder after upload", "path", w.vpath, "err", err)
	}
	closedAt := time.Now().UTC()
	if w.tempName {
		if final, err := folder.Lstat(w.base); err == nil {
			h.fs.rememberSum(activeKey(h.account, w.finalRel), final, sum, w.opened)
		}
		h.logger.Debug("temporary file closed", "path", w.vpath, "size", size)
		return "", nil
	}
	return h.handOn(w.ctx, w.vpath, w.finalRel, size, sum, closedAt)
}

// closeFile closes the temporary file once.
func (w *upload) closeFile() error {
	if w.file == nil {
		return nil
	}
	err := w.file.Close()
	w.file = nil
	return err
}

// detach keeps a transfer that did not finish under its partial name, where
// the next open of the same name without truncation takes it over, until the
// janitor removes it. An empty file is not worth keeping.
func (w *upload) detach(reason string) {
	h := w.h
	if w.file != nil {
		if err := w.file.Sync(); err != nil {
			h.logger.Warn("sync partial upload", "path", w.vpath, "err", err)
		}
	}
	if err := w.closeFile(); err != nil {
		h.logger.Warn("close partial upload", "path", w.vpath, "err", err)
	}
	info, err := h.root.Lstat(w.tempRel)
	if err != nil {
		h.logger.Error("partial upload vanished", "path", w.vpath, "err", err)
		h.usage.release(w.size.Load(), 1)
		return
	}
	if info.Size() == 0 {
		w.discard()
		return
	}
	h.removePartial(w.partialRel) // an older cut-off transfer of the same name
	if err := h.root.Rename(w.tempRel, w.partialRel); err != nil {
		// Left under its temporary name for the janitor.
		h.logger.Error("keep partial upload", "path", w.vpath, "err", err)
		return
	}
	h.logger.Debug("partial upload kept for resume", "path", w.vpath, "size", info.Size(), "reason", reason)
}

// discard removes the temporary file and gives back what it used.
func (w *upload) discard() {
	h := w.h
	if err := w.closeFile(); err != nil {
		h.logger.Warn("close discarded upload", "path", w.vpath, "err", err)
	}
	if err := h.root.Remove(w.tempRel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		h.logger.Error("remove discarded upload", "path", w.vpath, "err", err)
		return
	}
	h.usage.release(w.size.Load(), 1)
	w.size.Store(0)
}

// removePartial removes a partial file if there is one and reports whether
// it did.
func (h *handler) removePartial(relPath string) bool {
	return h.removePartialIn(h.root, relPath)
}

// removePartialIn removes the partial file name of folder (a path relative
// to it) if there is one and reports whether it did.
func (h *handler) removePartialIn(folder *os.Root, name string) bool {
	info, err := folder.Lstat(name)
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	if err := folder.Remove(name); err != nil {
		return false // gone meanwhile, or taken over by another session
	}
	h.usage.release(info.Size(), 1)
	return true
}

// handOn gives a final file to the UploadSink and returns the upload's id.
// The file stays in place when the sink fails: the client is told to upload
// it again.
func (h *handler) handOn(ctx context.Context, vpath, relPath string, size int64, sum string, closedAt time.Time) (string, error) {
	u := Upload{
		Account:       h.account,
		Path:          vpath,
		File:          filepath.Join(h.home, filepath.FromSlash(relPath)),
		Size:          size,
		SHA256:        sum,
		SessionID:     h.sess.ID,
		ClientVersion: h.sess.ClientVersion,
		ClosedAt:      closedAt,
	}
	if h.sess.Remote.IsValid() {
		u.Remote = h.sess.Remote.String()
	}
	// The file is in place: record it even if the client goes away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), receivedTimeout)
	defer cancel()
	id, err := h.fs.sink.Received(ctx, u)
	if err != nil {
		h.logger.Error("record upload", "path", vpath, "size", size, "sha256", sum, "err", err)
		return "", failure("%s was stored but could not be recorded; please upload it again", vpath)
	}
	return id, nil
}

// uploadEnded logs the one line of an upload's outcome, with its path, size,
// duration (when the time it was opened is known) and result, and counts it
// in the metrics. id is the upload's id when it was received; err is what
// the client was told otherwise.
func (h *handler) uploadEnded(vpath string, size int64, opened time.Time, id string, err error) {
	result := uploadResult(err)
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("path", vpath), slog.Int64("size", size))
	if !opened.IsZero() {
		d := time.Since(opened)
		attrs = append(attrs, slog.Duration("duration", d))
		if result == resultOK {
			h.fs.metrics.duration.Observe(d.Seconds())
		}
	}
	attrs = append(attrs, slog.String("result", result))
	if id != "" {
		attrs = append(attrs, slog.String("upload", id))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	h.fs.metrics.uploads[result].Inc()
	h.logger.LogAttrs(context.Background(), slog.LevelInfo, "upload ended", attrs...)
}

// uploadResult classifies the error Close or a finishing rename returned.
func uploadResult(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, errTransferAborted):
		return resultAborted
	case errors.Is(err, errQuotaExceeded), errors.Is(err, errFileTooLarge):
		return resultQuota
	case errors.Is(err, errEncryptionRequired):
		return resultRefused
	}
	return resultError
}

// cachedSum is the checksum of a closed file with a temporary name, kept so
// that renaming it to its final name need not read it again.
type cachedSum struct {
	info   fs.FileInfo
	sum    string
	opened time.Time // when the file was opened for writing
}

// maxCachedSums bounds the checksums kept for temporary-name files.
const maxCachedSums = 4096

func (f *FS) rememberSum(key string, info fs.FileInfo, sum string, opened time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sums) >= maxCachedSums {
		for k := range f.sums {
			delete(f.sums, k)
			break
		}
	}
	f.sums[key] = cachedSum{info: info, sum: sum, opened: opened}
}

// takeSum returns and forgets the checksum remembered for the file info
// describes, and when that file was opened for writing. Files reach a final
// name only by rename, never by writing in place, so the same file (device
// and inode) of the same size has the same contents.
func (f *FS) takeSum(key string, info fs.FileInfo) (cachedSum, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.sums[key]
	if !ok {
		return cachedSum{}, false
	}
	delete(f.sums, key)
	if !os.SameFile(c.info, info) || c.info.Size() != info.Size() {
		return cachedSum{}, false
	}
	return c, true
}
