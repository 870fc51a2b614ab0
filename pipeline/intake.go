package pipeline

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
)

// IntakeConfig tunes how uploads are recorded and announced. Its keys live
// under pipeline.intake. in the configuration file.
type IntakeConfig struct {
	// Node names this Sluice instance: in the source of its events,
	// /sluice/<node>, and as the node that received an upload (it delivers
	// the upload's reports and archives it). Every node of a deployment
	// needs a name of its own; the default is the host name.
	Node string `yaml:"node" koanf:"node"`
	// PublishTimeout bounds the wait for JetStream to acknowledge one batch
	// of received events. Events not acknowledged in time stay in the outbox
	// and are published again later. It never delays Receive.
	PublishTimeout time.Duration `yaml:"publish_timeout" koanf:"publish_timeout"`
	// SweepInterval is the pause between two sweeps of the outbox when no
	// upload arrives, and the longest pause between two retries while
	// publishing fails.
	SweepInterval time.Duration `yaml:"sweep_interval" koanf:"sweep_interval"`
	// SweepBatch is the number of unpublished uploads the publisher reads,
	// publishes and marks published at a time.
	SweepBatch int `yaml:"sweep_batch" koanf:"sweep_batch"`
	// PublishDelay is how long the publisher lets uploads gather after
	// Receive wakes it, before it publishes them. A session putting many
	// small files records one every millisecond or two; without the delay
	// each gets a sweep of its own (a read, two publishes, an update) that
	// competes with the next file's hand-off for the database's one writer
	// and for the CPU (with 1000 files of 4 KiB over SFTP, 20 ms cut the
	// publisher's time per upload by about 60 %). It adds at most that much
	// to the latency of a received event. 0 publishes at once.
	PublishDelay time.Duration `yaml:"publish_delay" koanf:"publish_delay"`
}

// DefaultIntakeConfig returns the defaults: the host name as the node, a
// 2 s publish timeout, a sweep every 30 s in batches of 100, and a publish
// delay of 20 ms.
func DefaultIntakeConfig() IntakeConfig {
	return IntakeConfig{
		Node:           hostNode(),
		PublishTimeout: 2 * time.Second,
		SweepInterval:  30 * time.Second,
		SweepBatch:     100,
		PublishDelay:   20 * time.Millisecond,
	}
}

// hostNode returns the host name as a node name ("sluice" without one):
// its first label, with what a node name may not hold replaced.
func hostNode() string {
	h, err := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	h = strings.Map(func(r rune) rune {
		if r == '/' || r <= ' ' || r == 0x7f {
			return '-'
		}
		return r
	}, h)
	if err != nil || h == "" {
		return "sluice"
	}
	return h
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
	case c.PublishDelay < 0 || c.PublishDelay > time.Second:
		return fmt.Errorf("pipeline.intake.publish_delay: must be between 0 and 1s (got %s)", c.PublishDelay)
	}
	return nil
}

// FeedLookup finds the feed whose folder holds a path of an account's tree
// (the longest matching prefix). credentials.Service implements it.
type FeedLookup interface {
	FeedFor(ctx context.Context, account, path string) (credentials.Feed, bool, error)
}

// Intake records finished uploads and announces them with a received event.
// Receive records; the publisher, RunSweeper, announces. It is safe for
// concurrent use.
type Intake struct {
	cfg    IntakeConfig
	db     *store.DB
	blobs  Blobs
	pub    jetstream.JetStream // the intake's own publishing context, see NewIntake
	feeds  FeedLookup
	logger *slog.Logger
	source string
	now    func() time.Time
	kick   chan struct{} // sweep now, even while backing off (Kick)
	wake   chan struct{} // uploads were recorded (Receive)
	writes chan struct{} // bounds concurrent writes, see writeSlots
	stmts  sync.Map      // query → *sql.Stmt, see write
	// sweepQuery reads a batch of the outbox, see unpublishedQuery.
	sweepQuery string
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

// write runs one write statement of constant text, such as the INSERT of
// every upload, within a write slot, prepared (see prepared).
func (in *Intake) write(ctx context.Context, query string, args ...any) error {
	_, err := in.exec(ctx, true, query, args...)
	return err
}

// exec runs one write statement within a write slot and returns the number
// of rows it changed. With prepare, the statement is prepared once and kept
// (see prepared), which only a bounded set of texts may ask for.
func (in *Intake) exec(ctx context.Context, prepare bool, query string, args ...any) (int64, error) {
	if err := in.acquire(ctx); err != nil {
		return 0, err
	}
	defer in.release()
	var (
		res sql.Result
		err error
	)
	if prepare {
		// Prepared within the slot: a thousand first writes at once must
		// not take a thousand connections.
		var stmt *sql.Stmt
		if stmt, err = in.prepared(ctx, query); err == nil {
			res, err = stmt.ExecContext(ctx, args...)
		}
	} else {
		res, err = in.db.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// prepared returns the statement of query, preparing it on first use and
// keeping it: SQLite spent a quarter of a small INSERT, and half of marking
// one upload published, parsing the statement anew. query must come from a
// small set of texts. The statements are closed with the database.
func (in *Intake) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := in.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := in.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := in.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// acquire takes a write slot, waiting in line until one is free or ctx ends.
func (in *Intake) acquire(ctx context.Context) error {
	select {
	case in.writes <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release frees a write slot taken by acquire.
func (in *Intake) release() { <-in.writes }

// NewIntake returns an Intake that records uploads in db, keeps their
// content in blobs, publishes their first tasks into the tasks stream and
// their received events into the events stream over js's connection (both
// streams must exist, see TaskStreamConfig and EventStreamConfig) and
// resolves their feed with feeds.
//
// The intake publishes through a JetStream context of its own on that
// connection, whose asynchronous publishes time out after the publish
// timeout: an acknowledgement that never comes then frees its slot instead of
// pinning it, and the intake's pending publishes are its own.
func NewIntake(cfg IntakeConfig, db *store.DB, js jetstream.JetStream, feeds FeedLookup, blobs Blobs, logger *slog.Logger) (*Intake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || js == nil || feeds == nil || blobs == nil || logger == nil {
		return nil, errors.New("new intake: db, jetstream, feed lookup, blob store and logger are required")
	}
	// Publishing needs neither the API prefix nor the domain of js: a
	// publish goes to the event's subject, its ack to the connection's inbox.
	pub, err := jetstream.New(js.Conn(), jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("new intake: publishing context: %w", err)
	}
	return &Intake{
		cfg:    cfg,
		db:     db,
		blobs:  blobs,
		pub:    pub,
		feeds:  feeds,
		logger: logger.With("component", "intake"),
		source: "/sluice/" + cfg.Node,
		now:    time.Now,
		kick:   make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
		writes: make(chan struct{}, writeSlots(db.Driver())),

		sweepQuery: unpublishedQuery(cfg.SweepBatch),
	}, nil
}

// Receive records the finished upload u and wakes the publisher
// (RunSweeper), which publishes its received event. The caller fills in
// Account, Path, File, Size, SHA256 and, where known, SessionID, Remote,
// ClientVersion and ReceivedAt (the close time; now when zero). Receive
// assigns the id, the feed ("" when no feed's folder holds the path) and the
// status received, and returns the upload as recorded: PublishedAt nil,
// PublishAttempts 0.
//
// Receive fails when u is incomplete, its feed cannot be looked up or the
// row cannot be written. Once it returns nil the upload is durably recorded
// together with its outbox entry, and its event will be published: by the
// running publisher within milliseconds (the publish delay) while NATS is
// up, later when it is not, by the sweep at the next start after a crash. Receive never waits for
// NATS: it blocks for a feed lookup and one database write.
func (in *Intake) Receive(ctx context.Context, u Upload) (Upload, error) {
	if err := checkUpload(u); err != nil {
		return Upload{}, err
	}
	// A dry run is validated as if uploaded outside /_test: /_test/orders/x.csv
	// against the feed of /orders.
	lookup := u.Path
	if u.DryRun() {
		lookup = strings.TrimPrefix(u.Path, DryRunFolder)
	}
	feed, ok, err := in.feeds.FeedFor(ctx, u.Account, lookup)
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
	u.Node = in.cfg.Node
	u.Status = StatusReceived
	u.UpdatedAt = now
	u.PublishedAt, u.PublishAttempts, u.LastError = nil, 0, ""
	u.Attempt, u.Error, u.FinishedAt, u.ArchivedAt, u.PurgedAt, u.Files = 1, "", nil, nil, nil, []File{}
	// The blob shares the received file's inode (blob.Dir links it): the
	// customer may replace or remove the file from now on, the pipeline
	// reads what was closed.
	if err := blob.Import(ctx, in.blobs, UploadBlobKey(u.ID), u.File); err != nil {
		return Upload{}, fmt.Errorf("keep upload %q of account %q: %w", u.Path, u.Account, err)
	}
	if err := in.insertUpload(ctx, u); err != nil {
		_ = in.blobs.Remove(context.WithoutCancel(ctx), UploadBlobKey(u.ID))
		return Upload{}, err
	}
	in.wakePublisher()
	in.logger.Debug("upload received", "upload", u.ID, "account", u.Account, "feed", u.Feed, "path", u.Path,
		"size", u.Size, "session", u.SessionID)
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

// preparedMarks is the largest batch marked published by a prepared
// statement: one text per batch size, and with a steady stream of uploads
// most batches are small; a larger batch pays for its parse with its size.
const preparedMarks = 16

// markPublished sets published_at on those of uploads ids still
// unpublished, in one statement, and returns how many it marked.
func (in *Intake) markPublished(ctx context.Context, at time.Time, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := in.exec(ctx, len(ids) <= preparedMarks, `UPDATE uploads SET published_at = $1, publish_attempts = publish_attempts + 1,
		last_error = '' WHERE published_at IS NULL AND id IN (`+placeholders(2, len(ids))+`)`, idArgs(at.UnixMicro(), ids)...)
	if err != nil {
		return 0, fmt.Errorf("mark %d uploads published: %w", len(ids), err)
	}
	return int(n), nil
}

// markFailed counts a failed publish of the still unpublished uploads ids and
// keeps its error, in one statement.
func (in *Intake) markFailed(ctx context.Context, cause error, ids ...string) {
	if len(ids) == 0 {
		return
	}
	// Recorded even when ctx just ended: the count tells operators why.
	_, err := in.exec(context.WithoutCancel(ctx), false, `UPDATE uploads SET publish_attempts = publish_attempts + 1,
		last_error = $1 WHERE published_at IS NULL AND id IN (`+placeholders(2, len(ids))+`)`,
		idArgs(truncate(cause.Error(), 1000), ids)...)
	if err != nil {
		in.logger.Warn("publish failure not recorded", "uploads", len(ids), "first", ids[0], "err", err)
	}
}

// placeholders returns n numbered placeholders from $first, comma-separated.
func placeholders(first, n int) string {
	ph := make([]string, n)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(first+i)
	}
	return strings.Join(ph, ", ")
}

// idArgs returns the arguments of a statement whose first argument is first
// and whose next ones are ids.
func idArgs(first any, ids []string) []any {
	args := make([]any, 0, len(ids)+1)
	args = append(args, first)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
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
