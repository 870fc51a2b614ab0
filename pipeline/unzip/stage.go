package unzip

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"

	"github.com/sluicehq/sluice/pipeline"
)

// stageName is the stage's name in chains, ids and metrics.
const stageName = "zip"

// Passwords gives the ZIP passwords of an account: the secrets of its
// zip-password credentials, tried in order on every encrypted entry.
// Implementations must be safe for concurrent use.
type Passwords interface {
	// Passwords returns the account's ZIP passwords; none is an empty
	// slice, not an error.
	Passwords(ctx context.Context, account string) ([]string, error)
}

// Policy says what a feed accepts. Implementations must be safe for
// concurrent use.
type Policy interface {
	// AllowZipCrypto reports whether the feed of an account accepts
	// archives encrypted with legacy ZipCrypto (the feed's
	// allow_zipcrypto). feed is "" when no feed holds the upload.
	AllowZipCrypto(ctx context.Context, account, feed string) (bool, error)
}

// Stage extracts the entries of ZIP archives. It is safe for concurrent use;
// Process blocks on blob I/O and the lookups of passwords and policy.
type Stage struct {
	cfg       Config
	blobs     pipeline.Blobs
	passwords Passwords
	policy    Policy
	logger    *slog.Logger
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns a Stage reading archives from and writing entries to blobs.
// The archive blob's reader must be an io.ReaderAt with a Stat or Seek
// method (blob.Dir's *os.File is).
func New(cfg Config, blobs pipeline.Blobs, passwords Passwords, policy Policy, logger *slog.Logger) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if blobs == nil || passwords == nil || policy == nil || logger == nil {
		return nil, errors.New("unzip: blobs, passwords, policy and logger are required")
	}
	return &Stage{cfg: cfg, blobs: blobs, passwords: passwords, policy: policy, logger: logger.With("component", "unzip")}, nil
}

// Name returns "zip".
func (s *Stage) Name() string { return stageName }

// Process extracts every file of the archive in as an Object of its own,
// in central directory order, named by its cleaned path ("dir/x.csv") and
// stored under in.UploadID + "/" + pipeline.ChildID(in.ID, "zip", name).
// Folders, __MACOSX/ and .DS_Store are skipped. Encrypted marks entries
// that were encrypted (or an input that already was). Bad archives are
// refused with a pipeline.Permanent error wrapping one of this package's
// Err values; nothing the archive holds is left behind then.
func (s *Stage) Process(ctx context.Context, in pipeline.Object) ([]pipeline.Object, error) {
	outs, err := s.process(ctx, in)
	if err != nil {
		if isBadInput(err) {
			return nil, pipeline.Permanent(fmt.Errorf("unzip %s: %w", quote(in.Name), err))
		}
		return nil, fmt.Errorf("unzip %s: %w", quote(in.Name), err)
	}
	return outs, nil
}

// process does the work of Process; its errors wrapping one of the Err
// values are bad input.
func (s *Stage) process(ctx context.Context, in pipeline.Object) ([]pipeline.Object, error) {
	if n := countZip(in.Chain); n >= s.cfg.MaxNesting {
		return nil, fmt.Errorf("it is inside %d archive(s) already, the limit is %d: %w", n, s.cfg.MaxNesting, ErrNesting)
	}
	rc, err := s.blobs.Open(ctx, in.Key)
	if err != nil {
		return nil, ioError{err}
	}
	defer rc.Close()
	ra, size, err := randomAccess(rc)
	if err != nil {
		return nil, err
	}

	if err := countEntries(ra, size, s.cfg.MaxEntries); err != nil {
		if errors.Is(err, errNoEnd) {
			return nil, fmt.Errorf("its end-of-central-directory record is missing: %w", ErrTruncated)
		}
		return nil, err
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are vetted below
		return nil, classifyOpen(err)
	}
	entries, err := s.plan(zr, size)
	if err != nil {
		return nil, err
	}
	passwords, err := s.secrets(ctx, in, entries)
	if err != nil {
		return nil, err
	}
	pool := newBuffers(4)
	if err := unlock(ctx, ra, entries, passwords, pool); err != nil {
		return nil, err
	}

	outs := make([]pipeline.Object, 0, len(entries))
	for _, e := range entries {
		out, err := s.extract(ctx, in, ra, e, pool)
		if err != nil {
			if isBadInput(err) {
				s.remove(ctx, in, outs)
			}
			return nil, err
		}
		outs = append(outs, out)
	}
	var total int64
	for _, o := range outs {
		total += o.Size
	}
	s.logger.Debug("archive extracted", "upload", in.UploadID, "file", in.ID, "entries", len(outs), "bytes", total)
	return outs, nil
}

// secrets checks the feed's policy when an entry uses ZipCrypto and fetches
// the account's passwords when an entry is encrypted.
func (s *Stage) secrets(ctx context.Context, in pipeline.Object, entries []entry) ([]string, error) {
	var aes, zipCrypto bool
	for _, e := range entries {
		aes = aes || e.enc == encAES
		zipCrypto = zipCrypto || e.enc == encZipCrypto
	}
	if zipCrypto {
		ok, err := s.policy.AllowZipCrypto(ctx, in.Account, in.Feed)
		if err != nil {
			return nil, fmt.Errorf("feed policy of %q: %w", in.Feed, err)
		}
		if !ok {
			return nil, ErrZipCrypto
		}
	}
	if !aes && !zipCrypto {
		return nil, nil
	}
	pws, err := s.passwords.Passwords(ctx, in.Account)
	if err != nil {
		return nil, fmt.Errorf("zip passwords of account %q: %w", in.Account, err)
	}
	if len(pws) == 0 {
		return nil, ErrNoPassword
	}
	return pws, nil
}

// remove deletes the blobs of outputs already committed when a later entry
// turns out bad: a refused archive leaves nothing behind. (After an
// internal fault they stay: the retry writes them again, identical.) A
// failure here only leaves a blob no record points to.
func (s *Stage) remove(ctx context.Context, in pipeline.Object, outs []pipeline.Object) {
	ctx = context.WithoutCancel(ctx)
	for _, o := range outs {
		if err := s.blobs.Remove(ctx, o.Key); err != nil {
			s.logger.Warn("remove output of refused archive", "upload", in.UploadID, "key", o.Key, "err", err)
		}
	}
}

// randomAccess returns the archive blob as an io.ReaderAt and its size.
func randomAccess(rc io.ReadCloser) (io.ReaderAt, int64, error) {
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		return nil, 0, fmt.Errorf("the blob store's reader (%T) is not an io.ReaderAt: unzip needs random access", rc)
	}
	var size int64
	switch r := rc.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		fi, err := r.Stat()
		if err != nil {
			return nil, 0, ioError{err}
		}
		size = fi.Size()
	case io.Seeker:
		n, err := r.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, 0, ioError{err}
		}
		size = n
	default:
		return nil, 0, fmt.Errorf("the blob store's reader (%T) has neither Stat nor Seek: unzip needs the archive's size", rc)
	}
	return archiveReader{ra}, size, nil
}

// countZip counts the ZIP levels a file came through.
func countZip(chain []string) int {
	n := 0
	for _, s := range chain {
		if s == stageName {
			n++
		}
	}
	return n
}

// badInput are the errors that blame the archive.
var badInput = []error{
	ErrTruncated, ErrCorruptDirectory, ErrCorruptEntry, ErrTooManyEntries, ErrTooLarge, ErrRatio,
	ErrUnsafeName, ErrDuplicateName, ErrSymlink, ErrSpecialFile, ErrMethod, ErrOverlap, ErrNesting,
	ErrZipCrypto, ErrUnsupportedEncryption, ErrNoPassword, ErrWrongPassword, ErrIntegrity, ErrEmpty,
}

func isBadInput(err error) bool {
	return slices.ContainsFunc(badInput, func(target error) bool { return errors.Is(err, target) })
}
