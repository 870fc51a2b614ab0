package csvcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
)

// stageName is the stage's name in chains: csvcheck appends "csv".
const stageName = "csv"

// Feeds finds a feed of an account by name; a missing feed is an error
// wrapping credentials.ErrNotFound. credentials.Service implements it.
type Feeds interface {
	Feed(ctx context.Context, account, name string) (credentials.Feed, error)
}

// Stage validates CSV files against their feed's schema: the last stage of
// every chain. It is safe for concurrent use.
type Stage struct {
	cfg    Config
	blobs  pipeline.Blobs
	feeds  Feeds
	logger *slog.Logger
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns a Stage reading and writing blobs and finding feeds in feeds.
func New(cfg Config, blobs pipeline.Blobs, feeds Feeds, logger *slog.Logger) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if blobs == nil || feeds == nil || logger == nil {
		return nil, errors.New("csvcheck: blobs, feeds and logger are required")
	}
	return &Stage{cfg: cfg, blobs: blobs, feeds: feeds, logger: logger.With("component", "csvcheck")}, nil
}

// Name returns "csv".
func (s *Stage) Name() string { return stageName }

// Process validates in's content against the schema of its feed and returns
// exactly one Object, whose Result says whether the file is accepted.
//
// An accepted file's Object refers to its accepted rows: normalised UTF-8
// CSV with the header, under the key "<upload id>/<id>" (Size and SHA256
// of that blob). A rejected file — bad content, no feed for its folder, a
// feed requirement it misses — is not an error: its Object has
// Result.Accepted false, Result.Reason for the customer and no Key. When
// there are problems (errors or warnings), all of them (up to max_errors
// and max_warnings) are in the blob Result.ProblemsKey, "<key>.errors.csv",
// as line,column,value,message CSV; blobs of an earlier attempt that no
// longer apply are removed. Errors are internal faults only (blob
// I/O, the feed lookup, ctx), to be retried. Running Process again on the
// same input writes the same keys and returns an equal Object.
func (s *Stage) Process(ctx context.Context, in pipeline.Object) ([]pipeline.Object, error) {
	id := pipeline.ChildID(in.ID, stageName, in.Name)
	key := in.UploadID + "/" + id
	out := pipeline.Object{
		ID:        id,
		UploadID:  in.UploadID,
		ParentID:  in.ID,
		Account:   in.Account,
		Feed:      in.Feed,
		Name:      in.Name,
		Chain:     append(slices.Clone(in.Chain), stageName),
		Encrypted: in.Encrypted,
		Signer:    in.Signer,
	}
	rep, err := s.check(ctx, in, key)
	if err != nil {
		return nil, err
	}
	if rep.Accepted() {
		out.Key, out.Size, out.SHA256 = key, rep.size, rep.sha256
	} else if err := s.blobs.Remove(ctx, key); err != nil {
		// A retry after the feed changed may reject what an earlier
		// attempt accepted: leave no stale rows behind.
		return nil, fmt.Errorf("remove stale accepted rows %q: %w", key, err)
	}
	problemsKey := key + ".errors.csv"
	if len(rep.Problems) > 0 {
		if err := s.writeProblems(ctx, problemsKey, &rep.Report); err != nil {
			return nil, err
		}
	} else if err := s.blobs.Remove(ctx, problemsKey); err != nil {
		return nil, fmt.Errorf("remove stale errors report %q: %w", problemsKey, err)
	}
	out.Result = rep.Result(problemsKey)
	s.logger.DebugContext(ctx, "csv checked", "upload", in.UploadID, "file", id,
		"accepted", out.Result.Accepted, "rows", out.Result.Rows, "rejected", out.Result.Rejected)
	return []pipeline.Object{out}, nil
}

// checked is a Report with the digest of the accepted rows' blob.
type checked struct {
	Report
	size   int64
	sha256 string
}

// check finds the feed, applies its requirements and validates the content,
// committing the accepted rows under key when the file is accepted.
func (s *Stage) check(ctx context.Context, in pipeline.Object, key string) (*checked, error) {
	feed, err := s.feed(ctx, in)
	if err != nil {
		if isRejection(err) {
			return &checked{Report: Report{Err: err}}, nil
		}
		return nil, err
	}
	v, err := NewValidator(s.cfg, feed)
	if err != nil {
		return &checked{Report: Report{Err: reject(ErrFeedSchema, "%v: an administrator must fix the feed", err)}}, nil
	}
	src, err := s.blobs.Open(ctx, in.Key)
	if err != nil {
		return nil, fmt.Errorf("open input %q: %w", in.Key, err)
	}
	defer src.Close()
	w, err := s.blobs.Create(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("create accepted rows %q: %w", key, err)
	}
	hw := &hashWriter{w: w, h: sha256.New()}
	rep, err := v.Validate(ctx, src, hw)
	if err != nil {
		_ = w.Abort()
		return nil, fmt.Errorf("validate %q: %w", in.Key, err)
	}
	if !rep.Accepted() {
		if err := w.Abort(); err != nil {
			return nil, fmt.Errorf("discard accepted rows %q: %w", key, err)
		}
		return &checked{Report: *rep}, nil
	}
	if err := w.Commit(); err != nil {
		return nil, fmt.Errorf("commit accepted rows %q: %w", key, err)
	}
	return &checked{Report: *rep, size: hw.n, sha256: hex.EncodeToString(hw.h.Sum(nil))}, nil
}

// feed returns in's feed, or a rejection when there is none or the file
// misses one of its requirements.
func (s *Stage) feed(ctx context.Context, in pipeline.Object) (credentials.Feed, error) {
	if in.Feed == "" {
		return credentials.Feed{}, reject(ErrNoFeed,
			"no feed is configured for this folder: files uploaded here cannot be validated until an administrator creates a feed for the folder (or for the account's root)")
	}
	feed, err := s.feeds.Feed(ctx, in.Account, in.Feed)
	switch {
	case errors.Is(err, credentials.ErrNotFound):
		return credentials.Feed{}, reject(ErrFeedGone, "the feed %q no longer exists: it was deleted after the upload", in.Feed)
	case err != nil:
		return credentials.Feed{}, fmt.Errorf("find feed %q of account %q: %w", in.Feed, in.Account, err)
	case feed.RequireEncryption && !in.Encrypted:
		return credentials.Feed{}, reject(ErrUnencrypted,
			"the feed %q requires encrypted uploads (OpenPGP, or a ZIP archive with AES encryption) and this file arrived unencrypted", in.Feed)
	case feed.RequireSignature && in.Signer == "":
		return credentials.Feed{}, reject(ErrUnsigned,
			"the feed %q requires uploads signed with OpenPGP by a key registered for the account, and this file carried no verified signature", in.Feed)
	}
	return feed, nil
}

// writeProblems commits the problems of rep as CSV under key.
func (s *Stage) writeProblems(ctx context.Context, key string, rep *Report) error {
	w, err := s.blobs.Create(ctx, key)
	if err != nil {
		return fmt.Errorf("create errors report %q: %w", key, err)
	}
	if err := rep.WriteProblems(w); err != nil {
		_ = w.Abort()
		return fmt.Errorf("write errors report %q: %w", key, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("commit errors report %q: %w", key, err)
	}
	return nil
}

// hashWriter counts and hashes what it passes on.
type hashWriter struct {
	w pipeline.BlobWriter
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}
