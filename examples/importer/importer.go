package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/pipeline"
)

// Config says where events come from and files go.
type Config struct {
	API     string // base URL of the admin API, e.g. http://127.0.0.1:8080
	Token   string // bearer token of the admin API
	OutDir  string // folder the files are written to
	Durable string // name of the durable consumer
	// Subject filters the events: sluice.ready.> by default, or e.g.
	// sluice.ready.acme.> or sluice.ready.acme.orders.
	Subject string
	// AckWait is how long the server waits for an acknowledgement before it
	// redelivers; a download in progress sends heartbeats more often.
	AckWait time.Duration
	// RetryDelay is the delay before a failed download is retried, times
	// the number of deliveries so far, at most MaxRetryDelay.
	RetryDelay time.Duration
}

// MaxRetryDelay bounds the delay before a failed download is retried.
const MaxRetryDelay = 5 * time.Minute

// DefaultConfig returns the defaults: every ready event, 60 s to
// acknowledge, 10 s before a first retry.
func DefaultConfig() Config {
	return Config{Subject: pipeline.SubjectReady + ".>", AckWait: time.Minute, RetryDelay: 10 * time.Second}
}

// Validate reports the first missing or invalid field of c.
func (c Config) Validate() error {
	switch {
	case !strings.HasPrefix(c.API, "http://") && !strings.HasPrefix(c.API, "https://"):
		return fmt.Errorf("api: an http(s) base URL is required (got %q)", c.API)
	case c.Token == "":
		return errors.New("token: required (-token or SLUICE_TOKEN)")
	case c.OutDir == "":
		return errors.New("out: an output folder is required")
	case c.Durable == "" || strings.ContainsAny(c.Durable, ".*> \t"):
		return fmt.Errorf("durable: a consumer name without dots, wildcards or spaces is required (got %q)", c.Durable)
	case !strings.HasPrefix(c.Subject, pipeline.SubjectReady+"."):
		return fmt.Errorf("subject: must be under %s. (got %q)", pipeline.SubjectReady, c.Subject)
	case c.AckWait < time.Second:
		return fmt.Errorf("ack wait: at least 1s (got %s)", c.AckWait)
	case c.RetryDelay <= 0:
		return fmt.Errorf("retry: must be positive (got %s)", c.RetryDelay)
	}
	return nil
}

// Importer writes the files of ready events to a folder. Run blocks; one
// Importer runs one Run at a time, and several processes may share a
// durable consumer to share the work.
type Importer struct {
	cfg    Config
	cons   jetstream.Consumer
	client *http.Client
	logger *slog.Logger
}

// New creates the output folder and the durable pull consumer (or updates
// it to cfg) on the events stream, which Sluice creates. It blocks on the
// JetStream API until ctx ends.
func New(ctx context.Context, cfg Config, js jetstream.JetStream, client *http.Client, logger *slog.Logger) (*Importer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o750); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, pipeline.EventsStream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "example importer of Sluice's ready files",
		FilterSubject: cfg.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1, // keep trying: a file is never skipped for a passing outage
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %q on stream %s: %w", cfg.Durable, pipeline.EventsStream, err)
	}
	return &Importer{cfg: cfg, cons: cons, client: client,
		logger: logger.With("component", "importer", "consumer", cfg.Durable)}, nil
}

// Run imports events one at a time until ctx ends, then returns nil. It
// fetches a message only when it is ready to handle it, so no event waits
// in a client-side buffer while its acknowledgement timer runs.
func (im *Importer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		msg, err := im.cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// A fetch that found nothing ends in a timeout: ask again.
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
				im.logger.Warn("fetch failed", "err", err)
				if !sleep(ctx, time.Second) {
					break
				}
			}
			continue
		}
		im.handle(ctx, msg)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// badEvent marks an event the importer can never handle: it is terminated
// rather than retried.
type badEvent struct{ error }

// handle imports msg's file and settles msg: acked once the file is
// durable, terminated when the event is unusable, nak'ed with a delay
// otherwise.
func (im *Importer) handle(ctx context.Context, msg jetstream.Msg) {
	logger := im.logger.With("subject", msg.Subject())
	ev, data, err := decode(msg.Data())
	if err == nil {
		logger = logger.With("event", ev.ID, "file", data.FileID)
		err = im.withHeartbeat(ctx, msg, func() error { return im.fetch(ctx, ev, data) })
	}
	var bad badEvent
	switch {
	case err == nil:
		if err := msg.DoubleAck(ctx); err != nil {
			// The file is written; a redelivery rewrites the same file.
			logger.Warn("ack failed", "err", err)
			return
		}
		logger.Info("file imported", "name", data.FileName, "rows", data.Rows, "bytes", data.Size)
	case errors.As(err, &bad):
		logger.Error("event terminated", "err", err)
		if err := msg.TermWithReason(err.Error()); err != nil {
			logger.Warn("term failed", "err", err)
		}
	default:
		delay := im.cfg.RetryDelay
		if meta, merr := msg.Metadata(); merr == nil {
			delay = min(time.Duration(meta.NumDelivered)*im.cfg.RetryDelay, MaxRetryDelay)
		}
		logger.Warn("import failed, will retry", "err", err, "delay", delay)
		if err := msg.NakWithDelay(delay); err != nil {
			logger.Warn("nak failed", "err", err)
		}
	}
}

// fileID is what a file id must look like to name a file.
var fileID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// decode reads a ready event in CloudEvents structured JSON.
func decode(body []byte) (pipeline.Event, pipeline.FileData, error) {
	var ev pipeline.Event
	var data pipeline.FileData
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, data, badEvent{fmt.Errorf("decode CloudEvent: %w", err)}
	}
	if ev.SpecVersion != "1.0" || ev.Type != pipeline.TypeReady {
		return ev, data, badEvent{fmt.Errorf("event %q: want a CloudEvents 1.0 %s event, got %q version %q", ev.ID, pipeline.TypeReady, ev.Type, ev.SpecVersion)}
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		return ev, data, badEvent{fmt.Errorf("event %q: decode data: %w", ev.ID, err)}
	}
	switch {
	case !fileID.MatchString(data.FileID):
		return ev, data, badEvent{fmt.Errorf("event %q: file id %q cannot name a file", ev.ID, data.FileID)}
	case !strings.HasPrefix(data.ContentURL, "/") || strings.HasPrefix(data.ContentURL, "//"):
		// An absolute path on the admin API: the token goes nowhere else.
		return ev, data, badEvent{fmt.Errorf("event %q: content_url %q is not a path on the admin API", ev.ID, data.ContentURL)}
	}
	return ev, data, nil
}

// withHeartbeat runs fn, telling the server the message is still being
// worked on every third of AckWait, so a long download is not redelivered
// to another importer meanwhile.
func (im *Importer) withHeartbeat(ctx context.Context, msg jetstream.Msg, fn func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(im.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					im.logger.Warn("heartbeat failed", "err", err)
				}
			}
		}
	})
	defer wg.Wait()
	defer cancel()
	return fn()
}

// fetch streams data's content to <out>/<file id>.csv and the event to
// <out>/<file id>.json: each to a temporary file first, checked against the
// event's size and SHA-256, fsynced, renamed into place, then the folder
// fsynced. The .csv is renamed last: its presence means the import is whole.
func (im *Importer) fetch(ctx context.Context, ev pipeline.Event, data pipeline.FileData) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(im.cfg.API, "/")+data.ContentURL, nil)
	if err != nil {
		return badEvent{fmt.Errorf("content request: %w", err)}
	}
	req.Header.Set("Authorization", "Bearer "+im.cfg.Token)
	resp, err := im.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", data.ContentURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", data.ContentURL, resp.Status)
	}

	meta, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return badEvent{fmt.Errorf("encode event: %w", err)}
	}
	base := filepath.Join(im.cfg.OutDir, data.FileID)
	if err := writeFile(base+".json", func(w io.Writer) error { _, err := w.Write(meta); return err }); err != nil {
		return err
	}
	err = writeFile(base+".csv", func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
		if err != nil {
			return fmt.Errorf("download %s: %w", data.ContentURL, err)
		}
		if n != data.Size || (data.SHA256 != "" && hex.EncodeToString(h.Sum(nil)) != data.SHA256) {
			return fmt.Errorf("download %s: got %d bytes that do not match the event's size %d and sha256", data.ContentURL, n, data.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return syncDir(im.cfg.OutDir)
}

// writeFile writes path through a temporary file in the same folder,
// fsynced and renamed into place only when fill succeeded.
func writeFile(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".importing-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
