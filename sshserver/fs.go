package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// DefaultPartialRetention is how long a cut-off upload stays resumable when
// FSConfig.PartialRetention is zero.
const DefaultPartialRetention = 24 * time.Hour

// FSConfig configures an FS. Zero PartialRetention and nil TempPatterns
// select the defaults.
type FSConfig struct {
	HomeDir          string        // <data_dir>/home; account tree = HomeDir/<account>
	PartialRetention time.Duration // how long a cut-off upload stays resumable; 0: DefaultPartialRetention
	TempPatterns     []string      // path.Match patterns on the base name; nil: DefaultTempPatterns
}

// FS is the SFTP file system of all accounts: each session sees its
// account's folder HomeDir/<account> as its root, jailed with os.Root so that
// neither ".." nor a symbolic link planted on disk leads outside it. "/" and
// the folders below it are writable, "/reports" is read-only.
//
// Uploads are written to a hidden temporary file next to their final name and
// renamed into place when the client closes them; only then are they handed
// to the UploadSink. Quotas are enforced as bytes arrive, and each upload's
// SHA-256 is computed as it is written. A transfer cut off by a disconnect is kept, hidden, for
// resume (OpenSSH's reput, sftp -a, WinSCP and FileZilla resume) during
// PartialRetention; RunJanitor removes it afterwards.
//
// FS implements HandlerProvider and is safe for concurrent use.
type FS struct {
	cfg     FSConfig
	temps   tempMatcher
	sink    UploadSink
	feeds   FeedLookup
	logger  *slog.Logger
	metrics *fsMetrics
	escape  error     // the error os.Root returns for a path leading outside it
	bufs    sync.Pool // of *[]byte of hashChunk bytes

	mu     sync.Mutex
	usages map[string]*usage    // by account, while the account has sessions
	active map[string]struct{}  // activeKey of every temporary file being written
	sums   map[string]cachedSum // checksums of closed temporary-name files, by activeKey
}

// NewFS returns an FS serving the account folders under cfg.HomeDir, which
// it creates if missing. Closed uploads go to sink; feeds tells which folders
// require encrypted files.
func NewFS(cfg FSConfig, sink UploadSink, feeds FeedLookup, logger *slog.Logger) (*FS, error) {
	switch {
	case cfg.HomeDir == "":
		return nil, errors.New("new sftp file system: home directory is required")
	case cfg.PartialRetention < 0:
		return nil, fmt.Errorf("new sftp file system: partial retention %s is negative", cfg.PartialRetention)
	case sink == nil:
		return nil, errors.New("new sftp file system: upload sink is required")
	case feeds == nil:
		return nil, errors.New("new sftp file system: feed lookup is required")
	}
	if cfg.PartialRetention == 0 {
		cfg.PartialRetention = DefaultPartialRetention
	}
	if cfg.TempPatterns == nil {
		cfg.TempPatterns = DefaultTempPatterns
	}
	temps, err := newTempMatcher(cfg.TempPatterns)
	if err != nil {
		return nil, fmt.Errorf("new sftp file system: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	home, err := filepath.Abs(cfg.HomeDir)
	if err != nil {
		return nil, fmt.Errorf("new sftp file system: home directory %q: %w", cfg.HomeDir, err)
	}
	cfg.HomeDir = home
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("new sftp file system: create home directory %q: %w", home, err)
	}
	escape, err := probeEscapeError(home)
	if err != nil {
		return nil, fmt.Errorf("new sftp file system: %w", err)
	}
	f := &FS{
		cfg:     cfg,
		temps:   temps,
		sink:    sink,
		feeds:   feeds,
		logger:  logger.With("component", "sftpfs"),
		metrics: newFSMetrics(),
		escape:  escape,
		usages:  make(map[string]*usage),
		active:  make(map[string]struct{}),
		sums:    make(map[string]cachedSum),
	}
	f.bufs.New = func() any {
		b := make([]byte, hashChunk)
		return &b
	}
	return f, nil
}

// probeEscapeError returns the error os.Root reports for a path that leads
// outside the root. The os package does not export it, and telling it apart
// lets a client hear "permission denied" rather than a bare failure when it
// follows a symbolic link planted on disk.
func probeEscapeError(dir string) (error, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open home directory %q: %w", dir, err)
	}
	defer root.Close()
	_, err = root.Lstat("..")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err, nil
	}
	return nil, nil
}

// ensureFeedFolders creates the folders of the account's feeds that are
// missing: the admin API creates a feed's folder on its own node only.
func (f *FS) ensureFeedFolders(ctx context.Context, root *os.Root, account string) {
	feeds, err := f.feeds.Feeds(ctx, account)
	if err != nil {
		f.logger.WarnContext(ctx, "list feeds", "account", account, "err", err)
		return
	}
	for _, fd := range feeds {
		if fd.Path == "/" || fd.Path == reportsDir || strings.HasPrefix(fd.Path, reportsDir+"/") {
			continue
		}
		if err := root.MkdirAll(rel(fd.Path), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			f.logger.WarnContext(ctx, "create feed folder", "account", account, "path", fd.Path, "err", err)
		}
	}
}

// Handlers returns the SFTP handlers of one session, jailed to the folder of
// s.Account, and a func the server must call once when the SFTP subsystem
// ends, after RequestServer.Serve has returned. It creates the account's
// folder and its /reports folder if missing and, when the account has
// quotas and no other session of it is active, walks the folder to count
// what it holds, which blocks for as long as that takes.
func (f *FS) Handlers(ctx context.Context, s *Session) (sftp.Handlers, func(), error) {
	if s == nil {
		return sftp.Handlers{}, nil, errors.New("sftp handlers: nil session")
	}
	name := s.Account.Name
	if name == "" || name == "." || name == ".." || path.Base(name) != name || checkName(name) != nil {
		return sftp.Handlers{}, nil, fmt.Errorf("sftp handlers: account name %q is not a folder name", name)
	}
	home := filepath.Join(f.cfg.HomeDir, name)
	if err := os.Mkdir(home, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return sftp.Handlers{}, nil, fmt.Errorf("sftp handlers: create account folder %q: %w", home, err)
	}
	root, err := os.OpenRoot(home)
	if err != nil {
		return sftp.Handlers{}, nil, fmt.Errorf("sftp handlers: open account folder %q: %w", home, err)
	}
	if err := root.Mkdir(rel(reportsDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		f.logger.WarnContext(ctx, "create reports folder", "account", name, "err", err)
	}
	f.ensureFeedFolders(ctx, root, name)
	u := f.acquireUsage(name)
	lim := limitsOf(s.Account)
	if lim.any() {
		if err := u.ensureCounted(root); err != nil {
			f.releaseUsage(name, u)
			root.Close()
			return sftp.Handlers{}, nil, fmt.Errorf("sftp handlers: %w", err)
		}
	}
	h := &handler{
		fs:      f,
		sess:    s,
		account: name,
		home:    home,
		root:    root,
		usage:   u,
		limits:  lim,
		logger:  f.logger.With("session", s.ID, "account", name, "remote", s.Remote.String()),
		uploads: make(map[string]*upload),
		open:    make(map[*upload]struct{}),
		feeds:   make(map[string]bool),
		refs:    1,
	}
	var once sync.Once
	end := func() { once.Do(h.end) }
	return sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}, end, nil
}

// handler serves one SFTP session. pkg/sftp calls it from several goroutines.
type handler struct {
	fs      *FS
	sess    *Session
	account string
	home    string // absolute local path of the account's folder
	root    *os.Root
	usage   *usage
	limits  limits
	logger  *slog.Logger

	mu      sync.Mutex
	uploads map[string]*upload   // open uploads by virtual path (the latest one)
	open    map[*upload]struct{} // all open uploads
	feeds   map[string]bool      // whether a virtual folder requires encryption, looked up once per session
	refs    int                  // the session and each open upload; root closes at 0
	ended   bool
}

// end runs when the SFTP subsystem ends. Uploads still open then were cut
// off: they are kept for resume, never handed on.
func (h *handler) end() {
	h.mu.Lock()
	h.ended = true
	for w := range h.open {
		w.TransferError(errors.New("session ended"))
	}
	h.mu.Unlock()
	h.unref()
	h.fs.releaseUsage(h.account, h.usage)
}

// ref keeps the root open for an upload; false if the session has ended.
func (h *handler) ref(w *upload) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return false
	}
	h.refs++
	h.open[w] = struct{}{}
	h.uploads[w.vpath] = w
	return true
}

// unref drops a reference; the root closes with the last one.
func (h *handler) unref() {
	h.mu.Lock()
	h.refs--
	last := h.refs == 0
	h.mu.Unlock()
	if last {
		h.root.Close()
	}
}

// forget drops a closed upload.
func (h *handler) forget(w *upload) {
	h.mu.Lock()
	delete(h.open, w)
	if h.uploads[w.vpath] == w {
		delete(h.uploads, w.vpath)
	}
	h.mu.Unlock()
	h.unref()
}

// openUpload returns this session's open upload of vpath, if any.
func (h *handler) openUpload(vpath string) *upload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.uploads[vpath]
}

// activeKey names a temporary file of an account across sessions.
func activeKey(account, relPath string) string { return account + "\x00" + relPath }

func (f *FS) setActive(key string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.active[key] = struct{}{}
	} else {
		delete(f.active, key)
	}
}

func (f *FS) isActive(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.active[key]
	return ok
}

// requiresEncryption reports whether uploads to vpath must be OpenPGP or ZIP,
// asking the FeedLookup once per folder and session: a feed changed during a
// session applies from the next login.
func (h *handler) requiresEncryption(ctx context.Context, vpath string) (bool, error) {
	dir := path.Dir(vpath)
	h.mu.Lock()
	req, ok := h.feeds[dir]
	h.mu.Unlock()
	if ok {
		return req, nil
	}
	feed, found, err := h.fs.feeds.FeedFor(ctx, h.account, vpath)
	if err != nil {
		return false, fmt.Errorf("feed for %q: %w", vpath, err)
	}
	req = found && feed.RequireEncryption
	h.mu.Lock()
	h.feeds[dir] = req
	h.mu.Unlock()
	return req, nil
}

// openFolder opens the folder vdir (relDir relative to the account root)
// for a request that does several things in it: its path is resolved once,
// and every name in it is then one system call away, where each operation
// on h.root walks the path again. A folder renamed or removed meanwhile is
// as if the request had come a moment earlier or later. The caller closes it.
func (h *handler) openFolder(vdir, relDir string) (*os.Root, error) {
	folder, err := h.root.OpenRoot(relDir)
	if err == nil {
		return folder, nil
	}
	// os.Root reports a file that is no folder with an error of its own.
	if info, serr := h.root.Stat(relDir); serr == nil && !info.IsDir() {
		return nil, failure("not a directory: %s", vdir)
	}
	return nil, h.status("open", vdir, err)
}

// syncDir flushes a folder's entries (a rename into it) to disk.
func (h *handler) syncDir(relDir string) error {
	d, err := h.root.Open(relDir)
	if err != nil {
		return fmt.Errorf("open folder %q: %w", relDir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %q: %w", relDir, err)
	}
	return nil
}

// syncFolder flushes the entries of a folder opened by openFolder to disk.
func syncFolder(folder *os.Root) error {
	d, err := folder.Open(".")
	if err != nil {
		return fmt.Errorf("open folder %q: %w", folder.Name(), err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %q: %w", folder.Name(), err)
	}
	return nil
}

// status turns err from an operation on vpath into an error whose message the
// client may see: it names the virtual path, never a local one. Unexpected
// errors are logged.
func (h *handler) status(op, vpath string, err error) error {
	var se *statusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, fs.ErrNotExist):
		return notFound(vpath)
	case errors.Is(err, fs.ErrPermission):
		return denied("permission denied: %s", vpath)
	case h.fs.escape != nil && errors.Is(err, h.fs.escape):
		return denied("permission denied: %s leads outside your folder", vpath)
	case errors.Is(err, syscall.ENOTEMPTY): // before ErrExist, which it matches too
		return failure("directory not empty: %s", vpath)
	case errors.Is(err, fs.ErrExist):
		return failure("file exists: %s", vpath)
	case errors.Is(err, syscall.ENOTDIR):
		return failure("not a directory: %s", vpath)
	case errors.Is(err, syscall.EISDIR):
		return failure("is a directory: %s", vpath)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return failure("name too long: %s", vpath)
	case errors.Is(err, syscall.ELOOP):
		return failure("too many levels of symbolic links: %s", vpath)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		h.logger.Error("server disk full", "op", op, "path", vpath, "err", err)
		return failure("no space left on the server")
	}
	h.logger.Error("sftp operation", "op", op, "path", vpath, "err", err)
	return failure("%s %s: internal error", op, vpath)
}
