package sshserver

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"github.com/sluicehq/sluice/credentials"
)

// Upload is a file a client finished uploading: closed successfully, synced
// to disk and renamed to its final name.
type Upload struct {
	Account, Path                    string // Path: virtual, e.g. "/orders/x.csv"
	File                             string // absolute local path of the final file
	Size                             int64
	SHA256                           string // hex
	SessionID, Remote, ClientVersion string
	ClosedAt                         time.Time
}

// UploadSink takes finished uploads. Received must record u durably before
// it returns (the pipeline's outbox) and return the upload's id; when it
// fails, the client is told its upload failed. FS calls it from many
// sessions at once, so it must be safe for concurrent use.
type UploadSink interface {
	Received(ctx context.Context, u Upload) (id string, err error)
}

// FeedLookup returns the feed of an account that routes a virtual path (the
// longest folder prefix); ok is false when no feed does. FS calls it from
// many sessions at once, so it must be safe for concurrent use.
type FeedLookup interface {
	FeedFor(ctx context.Context, account, path string) (credentials.Feed, bool, error)
	// Feeds lists the account's feeds: a session creates their folders, so
	// that a feed made through another node's admin API has its folder
	// here too.
	Feeds(ctx context.Context, account string) ([]credentials.Feed, error)
}

// receivedTimeout bounds the hand-off of one upload to the sink.
const receivedTimeout = 30 * time.Second

// upload is one file open for writing. Its bytes go to a hidden temporary
// file in the target folder; WriteAt may be called concurrently and out of
// order. On Close the file is checked, synced and renamed into place and
// handed to the UploadSink; a transfer cut off before its Close (see
// TransferError) is kept under its partial name for resume instead.
type upload struct {
	h          *handler
	vpath      string // virtual path of the final name
	base       string // final base name
	relDir     string // folder, relative to the account root
	finalRel   string
	partialRel string
	tempRel    string
	// partialBase and tempBase are the base names of partialRel and
	// tempRel, for operations in the folder opened once per request (see
	// handler.openFolder).
	partialBase, tempBase string
	tempName              bool // base matches a temporary-name pattern: closing it is no upload
	// credit is the size of the final file this upload replaces: the quota
	// stretches by that much while both exist, as the old file goes when the
	// new one is renamed into place.
	credit int64
	// ctx is the context of the open request. pkg/sftp cancels it only after
	// Close returns, and Close (io.Closer) takes no context of its own.
	ctx    context.Context
	opened time.Time

	file    *os.File
	hash    *prefixHash
	size    atomic.Int64 // bytes reserved in the account's usage: the highest end written
	written atomic.Int64 // bytes written by WriteAt, for writebackDue
	aborted atomic.Bool
	failed  atomic.Pointer[error] // the first failed write: the file is incomplete

	closeOnce sync.Once
	closeErr  error
}

// Filewrite opens a file for writing (pkg/sftp's FileWriter).
func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.openWrite(r)
}

// OpenFile opens a file for reading and writing (pkg/sftp's OpenFileWriter).
func (h *handler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.openWrite(r)
}

// openWrite starts an upload. With the truncate flag it starts from an empty
// file. Without it, it continues the file as the client last saw it: a
// cut-off upload of the same name is taken over, or else a copy of the
// existing final file is made, so that a received file is never changed in
// place. Writes land at the offsets the client sends, also with the append
// flag, as with OpenSSH's server.
//
// Resume: reput and sftp -a stat the name, open it without truncating and
// write from the size they saw; WinSCP does the same with its x.filepart,
// FileZilla opens and then fstats the handle. A cut-off upload is therefore
// kept under a hidden name derived from its final name (partialName), and
// stat, fstat and listings show it in place of the final name, so that a
// client resuming sees the size it reached. It is not stored as the final
// name itself: that would destroy the previous, complete version, let
// downloads and the pipeline's view of the folder see a half-written file,
// and need a marker to tell it from a received file. Downloads of the name
// still read the complete version while there is one.
func (h *handler) openWrite(r *sftp.Request) (*upload, error) {
	vpath, err := cleanPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	switch {
	case vpath == "/":
		return nil, failure("is a directory: /")
	case readOnly(vpath):
		return nil, denied("permission denied: %s is read-only", reportsDir)
	}
	dir, base := path.Split(vpath)
	dir = path.Clean(dir)
	relDir := rel(dir)
	folder, err := h.openFolder(dir, relDir)
	if err != nil {
		return nil, err
	}
	defer folder.Close()
	w := &upload{
		h:           h,
		vpath:       vpath,
		base:        base,
		relDir:      relDir,
		partialBase: partialName(base),
		tempBase:    tempName(base),
		tempName:    h.fs.temps.match(base),
		ctx:         r.Context(),
		opened:      time.Now(),
	}
	w.finalRel = path.Join(relDir, base)
	w.partialRel = path.Join(relDir, w.partialBase)
	w.tempRel = path.Join(relDir, w.tempBase)
	// Lstat: a symbolic link at the final name is replaced, never written through.
	final, err := folder.Lstat(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, h.status("open", vpath, err)
	}
	if final != nil && final.IsDir() {
		return nil, failure("is a directory: %s", vpath)
	}
	partial, err := folder.Lstat(w.partialBase)
	if err != nil || !partial.Mode().IsRegular() {
		partial = nil
	}
	flags := r.Pflags()
	switch {
	case flags.Excl && (final != nil || partial != nil):
		return nil, failure("file exists: %s", vpath)
	case !flags.Creat && final == nil && partial == nil:
		return nil, notFound(vpath)
	}
	if !h.ref(w) {
		return nil, failure("session ended")
	}
	// Active before the file exists, so that the janitor never takes it.
	h.fs.setActive(activeKey(h.account, w.tempRel), true)
	if err := w.create(folder, flags.Trunc, final, partial); err != nil {
		h.fs.setActive(activeKey(h.account, w.tempRel), false)
		h.forget(w)
		if errors.Is(err, errQuotaExceeded) { // the file count: an upload refused at once
			h.uploadEnded(vpath, 0, w.opened, "", err)
		}
		return nil, err
	}
	return w, nil
}

// create makes the temporary file in folder, the upload's folder, taking
// over the partial file or copying the final file unless trunc.
func (w *upload) create(folder *os.Root, trunc bool, final, partial fs.FileInfo) error {
	h := w.h
	var initial int64
	adopted := false
	if !trunc && partial != nil {
		err := folder.Rename(w.partialBase, w.tempBase)
		switch {
		case err == nil:
			adopted, initial = true, partial.Size() // already counted in the usage
		case !errors.Is(err, fs.ErrNotExist): // else another session took it first
			return h.status("open", w.vpath, err)
		}
	}
	fileLimit := h.limits.files
	if final != nil && final.Mode().IsRegular() {
		w.credit, fileLimit = final.Size(), 0
	}
	if !adopted && !h.usage.reserveFile(fileLimit) {
		return errQuotaExceeded
	}
	flag := os.O_RDWR
	if !adopted {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := folder.OpenFile(w.tempBase, flag, 0o600)
	if err != nil {
		if adopted {
			_ = folder.Rename(w.tempBase, w.partialBase)
		} else {
			h.usage.release(0, 1)
		}
		return h.status("open", w.vpath, err)
	}
	w.file = f
	w.size.Store(initial)
	if !adopted && !trunc && final != nil && final.Mode().IsRegular() && final.Size() > 0 {
		if err := w.copyFinal(folder, final.Size()); err != nil {
			w.discard()
			return err
		}
		initial = final.Size()
	}
	// A file that does not start empty is hashed from disk at close.
	w.hash = newPrefixHash(f, &h.fs.bufs, initial == 0)
	return nil
}

// copyFinal copies the existing final file of folder into the temporary file.
func (w *upload) copyFinal(folder *os.Root, size int64) error {
	if err := w.grow(size); err != nil {
		return err
	}
	src, err := folder.Open(w.base)
	if err != nil {
		return w.h.status("open", w.vpath, err)
	}
	defer src.Close()
	if _, err := w.file.ReadFrom(io.LimitReader(src, size)); err != nil {
		return w.h.status("open", w.vpath, err)
	}
	return nil
}

// WriteAt writes p at off. It is safe for concurrent use; p is not kept.
func (w *upload) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > math.MaxInt64-int64(len(p)) {
		return 0, failure("invalid offset %d", off)
	}
	if w.aborted.Load() {
		return 0, errTransferAborted
	}
	if err := w.failed.Load(); err != nil {
		return 0, *err
	}
	if err := w.grow(off + int64(len(p))); err != nil {
		return 0, w.fail(err)
	}
	n, err := w.file.WriteAt(p, off)
	if err != nil {
		return n, w.fail(w.h.status("write", w.vpath, err))
	}
	w.hash.wrote(p, off)
	if writebackDue(w.written.Add(int64(n)), int64(n)) {
		startWriteback(w.file)
	}
	w.h.fs.metrics.received.Add(float64(n))
	return n, nil
}

// writebackEvery is how many bytes an upload writes between two requests to
// the kernel to start writing the file to disk (see writebackDue).
const writebackEvery = 16 << 20

// writebackDue reports whether a write of n bytes that brought an upload's
// total to total crossed a multiple of writebackEvery. Every writebackEvery
// bytes the upload asks the kernel to start writing what it holds of the
// file (startWriteback), so that the disk writes while the network
// receives: without it the fsync at close wrote the whole file while the
// client waited, about 0.4 s per GiB on our disks; with it, a few
// milliseconds. Durability is still the fsync's alone.
func writebackDue(total, n int64) bool {
	return n > 0 && total/writebackEvery != (total-n)/writebackEvery
}

// fail records the first failed write, which Close reports again: the
// client would otherwise close an incomplete file as if it were complete.
func (w *upload) fail(err error) error {
	w.failed.CompareAndSwap(nil, &err)
	return err
}

// grow reserves the bytes between the current size and end, within the
// account's quota and the maximum file size.
func (w *upload) grow(end int64) error {
	lim := w.h.limits
	if lim.bytes > 0 {
		lim.bytes += w.credit
	}
	for {
		cur := w.size.Load()
		if end <= cur {
			return nil
		}
		if lim.fileSize > 0 && end > lim.fileSize {
			return errFileTooLarge
		}
		if !w.h.usage.reserveBytes(end-cur, lim.bytes) {
			return errQuotaExceeded
		}
		if w.size.CompareAndSwap(cur, end) {
			return nil
		}
		w.h.usage.release(end-cur, 0)
	}
}

// ReadAt reads from the file being written, for handles opened for reading
// and writing.
func (w *upload) ReadAt(p []byte, off int64) (int, error) {
	return w.file.ReadAt(p, off)
}

// TransferError is called by pkg/sftp when the connection ends while the
// file is still open, before it calls Close: the transfer was cut off.
func (w *upload) TransferError(err error) {
	if w.aborted.CompareAndSwap(false, true) {
		w.h.logger.Debug("upload cut off", "path", w.vpath, "reason", err.Error())
	}
}

// truncate sets the size of the file being written (setstat with a size).
func (w *upload) truncate(size int64) error {
	if size < 0 {
		return failure("invalid size %d", size)
	}
	cur := w.size.Load()
	if size > cur {
		if err := w.grow(size); err != nil {
			return err
		}
	}
	if err := w.file.Truncate(size); err != nil {
		return w.h.status("truncate", w.vpath, err)
	}
	if size < cur && w.size.CompareAndSwap(cur, size) {
		w.h.usage.release(cur-size, 0)
	}
	w.hash.invalidate()
	return nil
}

// stat returns the file being written as the client should see it.
func (w *upload) stat() (fs.FileInfo, error) {
	info, err := w.file.Stat()
	if err != nil {
		return nil, err
	}
	return namedInfo{info, w.base}, nil
}
