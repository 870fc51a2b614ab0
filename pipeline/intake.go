package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
)

// IntakeConfig tunes how uploads are recorded and announced. Its keys live
// under pipeline.intake. in the configuration file.
type IntakeConfig struct {
	// Node names this Sluice instance in the source of its events,
	// /sluice/<node>.
	Node string `yaml:"node" koanf:"node"`
	// PublishTimeout bounds one publish of a received event. When it
	// passes, the upload stays recorded and the sweeper publishes it later.
	PublishTimeout time.Duration `yaml:"publish_timeout" koanf:"publish_timeout"`
	// SweepInterval is the pause between two sweeps of the outbox.
	SweepInterval time.Duration `yaml:"sweep_interval" koanf:"sweep_interval"`
	// SweepBatch is the number of unpublished uploads a sweep reads at a
	// time.
	SweepBatch int `yaml:"sweep_batch" koanf:"sweep_batch"`
}

// DefaultIntakeConfig returns the defaults: node "sluice", a 2 s publish
// timeout, a sweep every 30 s in batches of 100.
func DefaultIntakeConfig() IntakeConfig {
	return IntakeConfig{
		Node:           "sluice",
		PublishTimeout: 2 * time.Second,
		SweepInterval:  30 * time.Second,
		SweepBatch:     100,
	}
}

// Validate reports the first invalid field of c, naming its key.
func (c IntakeConfig) Validate() error {
	switch {
	case c.Node == "" || strings.ContainsAny(c.Node, "/ \t\r\n"):
		return fmt.Errorf("pipeline.intake.node: must be a non-empty name without '/' or spaces (got %q)", c.Node)
	case c.PublishTimeout <= 0:
		return fmt.Errorf("pipeline.intake.publish_timeout: must be positive (got %s)", c.PublishTimeout)
	case c.SweepInterval <= 0:
		return fmt.Errorf("pipeline.intake.sweep_interval: must be positive (got %s)", c.SweepInterval)
	case c.SweepBatch < 1 || c.SweepBatch > 1000:
		return fmt.Errorf("pipeline.intake.sweep_batch: must be between 1 and 1000 (got %d)", c.SweepBatch)
	}
	return nil
}

// FeedLookup finds the feed whose folder holds a path of an account's tree
// (the longest matching prefix). credentials.Service implements it.
type FeedLookup interface {
	FeedFor(ctx context.Context, account, path string) (credentials.Feed, bool, error)
}

// Intake records finished uploads and announces them with a received event.
// It is safe for concurrent use.
type Intake struct {
	cfg    IntakeConfig
	db     *store.DB
	js     jetstream.JetStream
	feeds  FeedLookup
	logger *slog.Logger
	source string
	now    func() time.Time
	kick   chan struct{}
	writes chan struct{} // bounds concurrent writes, see writeSlots
}

// writeSlots bounds the intake's concurrent database writes. SQLite takes one
// writer at a time: a thousand sessions closing files at once would otherwise
// queue in SQLite's busy handler, which polls and gives up after its timeout,
// instead of in a fair Go queue. PostgreSQL gets enough to keep it busy
// without taking every connection the server allows.
func writeSlots(driver string) int {
	if driver == store.SQLite {
		return 1
	}
	return 16
}

// write runs one write statement within a write slot.
func (in *Intake) write(ctx context.Context, query string, args ...any) error {
	select {
	case in.writes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-in.writes }()
	_, err := in.db.ExecContext(ctx, query, args...)
	return err
}

// NewIntake returns an Intake that records uploads in db, publishes their
// events through js into the events stream (which must exist, see
// EventStreamConfig) and resolves their feed with feeds.
func NewIntake(cfg IntakeConfig, db *store.DB, js jetstream.JetStream, feeds FeedLookup, logger *slog.Logger) (*Intake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || js == nil || feeds == nil || logger == nil {
		return nil, errors.New("new intake: db, jetstream, feed lookup and logger are required")
	}
	return &Intake{
		cfg:    cfg,
		db:     db,
		js:     js,
		feeds:  feeds,
		logger: logger.With("component", "intake"),
		source: "/sluice/" + cfg.Node,
		now:    time.Now,
		kick:   make(chan struct{}, 1),
		writes: make(chan struct{}, writeSlots(db.Driver())),
	}, nil
}

// Receive records the finished upload u and publishes its received event.
// The caller fills in Account, Path, File, Size, SHA256 and, where known,
// SessionID, Remote, ClientVersion and ReceivedAt (the close time; now when
// zero). Receive assigns the id, the feed ("" when no feed's folder holds the
// path) and the status received, and returns the recorded upload.
//
// Receive fails when u is incomplete, its feed cannot be looked up or the
// row cannot be written. Once the row is recorded it succeeds: when the event
// cannot be published within the configured publish timeout (NATS down, no
// stream) it logs a warning, returns the upload with PublishedAt nil and
// leaves the event to the sweeper. It blocks for a feed lookup, one or two
// database writes and at most the publish timeout.
func (in *Intake) Receive(ctx context.Context, u Upload) (Upload, error) {
	if err := checkUpload(u); err != nil {
		return Upload{}, err
	}
	feed, ok, err := in.feeds.FeedFor(ctx, u.Account, u.Path)
	if err != nil {
		return Upload{}, fmt.Errorf("feed of upload %q of account %q: %w", u.Path, u.Account, err)
	}
	u.Feed = ""
	if ok {
		u.Feed = feed.Name
	}
	now := in.now().UTC().Truncate(time.Microsecond)
	if u.ReceivedAt.IsZero() {
		u.ReceivedAt = now
	}
	u.ReceivedAt = u.ReceivedAt.UTC().Truncate(time.Microsecond) // as the store keeps it
	u.ID = ulid.Make().String()
	u.Status = StatusReceived
	u.UpdatedAt = now
	u.PublishedAt, u.PublishAttempts, u.LastError = nil, 0, ""
	if err := in.insertUpload(ctx, u); err != nil {
		return Upload{}, err
	}
	in.logger.Info("upload received", "upload", u.ID, "account", u.Account, "feed", u.Feed, "path", u.Path,
		"size", u.Size, "session", u.SessionID)

	// The upload is recorded: from here on nothing may fail it, and a client
	// that disconnects right after its close must not cancel the publish.
	pctx := context.WithoutCancel(ctx)
	if at, err := in.publish(pctx, u); err != nil {
		in.logger.Warn("received event not published; the sweeper will retry", "upload", u.ID, "err", err)
		u.PublishAttempts, u.LastError = 1, err.Error()
	} else {
		u.PublishedAt, u.PublishAttempts = &at, 1
	}
	return u, nil
}

// checkUpload validates what the caller of Receive must fill in.
func checkUpload(u Upload) error {
	switch {
	case credentials.CheckAccountName("account", u.Account) != nil:
		return fmt.Errorf("receive upload: account %q is not a valid account name", u.Account)
	case !strings.HasPrefix(u.Path, "/") || path.Clean(u.Path) != u.Path || u.Path == "/":
		return fmt.Errorf("receive upload: path %q is not a clean absolute file path", u.Path)
	case u.File == "":
		return fmt.Errorf("receive upload %q: local file path is required", u.Path)
	case u.Size < 0:
		return fmt.Errorf("receive upload %q: negative size %d", u.Path, u.Size)
	}
	if b, err := hex.DecodeString(u.SHA256); err != nil || len(b) != 32 || strings.ToLower(u.SHA256) != u.SHA256 {
		return fmt.Errorf("receive upload %q: sha256 %q is not 64 lower-case hex digits", u.Path, u.SHA256)
	}
	return nil
}

// publish publishes u's received event, waiting at most the publish timeout
// for the acknowledgement, and records the outcome on u's row. It returns
// the time it marked the upload published.
func (in *Intake) publish(ctx context.Context, u Upload) (time.Time, error) {
	if err := in.publishOnly(ctx, u); err != nil {
		in.markFailed(ctx, u.ID, err)
		return time.Time{}, err
	}
	at := in.now().UTC().Truncate(time.Microsecond)
	if err := in.markPublished(ctx, at, u.ID); err != nil {
		// The event is out; the sweeper will publish it again and JetStream
		// will drop the copy as a duplicate.
		in.logger.Warn("published upload not marked; it will be published again", "upload", u.ID, "err", err)
	}
	return at, nil
}

// markPublished sets published_at on the still unpublished uploads ids.
func (in *Intake) markPublished(ctx context.Context, at time.Time, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{at.UnixMicro()}
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = fmt.Sprintf("$%d", i+2)
	}
	err := in.write(ctx, `UPDATE uploads SET published_at = $1, publish_attempts = publish_attempts + 1,
		last_error = '' WHERE published_at IS NULL AND id IN (`+strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("mark %d uploads published: %w", len(ids), err)
	}
	return nil
}

// markFailed counts a failed publish of upload id and keeps its error.
func (in *Intake) markFailed(ctx context.Context, id string, cause error) {
	// Recorded even when ctx just ended: the count tells operators why.
	err := in.write(context.WithoutCancel(ctx), `UPDATE uploads SET publish_attempts = publish_attempts + 1, last_error = $1
		WHERE id = $2 AND published_at IS NULL`, truncate(cause.Error(), 1000), id)
	if err != nil {
		in.logger.Warn("publish failure not recorded", "upload", id, "err", err)
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
