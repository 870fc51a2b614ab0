package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sluicehq/sluice/blob"
)

// sweepGiveUp is the number of publishes in a row that must fail before a
// sweep stops: then NATS is unreachable rather than one event unpublishable,
// and the next sweep tries again.
const sweepGiveUp = 3

// minBackoff is the first pause of the publisher after a sweep that failed
// without publishing anything; the pause doubles up to the sweep interval.
const minBackoff = 100 * time.Millisecond

// Sweep publishes the received event of every upload not yet marked
// published, oldest first, in batches of SweepBatch: it reads a batch,
// publishes its events asynchronously, waits at most the publish timeout for
// their acknowledgements and marks the acknowledged uploads published in one
// statement, and failed ones with their error in another. Events already in
// the stream are dropped by JetStream as duplicates (the upload id is their
// Nats-Msg-Id), so a sweep racing another publishes nothing twice.
//
// It returns the number of uploads it marked published, and an error when
// any publish failed; it stops early when ctx ends or several publishes in a
// row fail. It is safe for concurrent use and blocks until done.
func (in *Intake) Sweep(ctx context.Context) (int, error) {
	var (
		after             string
		published, failed int
		lastErr           error
	)
	for {
		batch, err := in.unpublished(ctx, after)
		if err != nil {
			return published, fmt.Errorf("sweep: read unpublished uploads: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].ID
		r := in.publishBatch(ctx, batch)
		n, err := in.markPublished(context.WithoutCancel(ctx), in.now().UTC().Truncate(time.Microsecond), r.acked...)
		if err != nil {
			// The events are out; the next sweep publishes them again and
			// JetStream drops the copies.
			return published, fmt.Errorf("sweep: %w", err)
		}
		published += n
		for cause, ids := range r.failed {
			in.markFailed(ctx, errors.New(cause), ids...)
			failed += len(ids)
			lastErr = errors.New(cause)
		}
		if r.stop != nil {
			return published, fmt.Errorf("sweep: %w", r.stop)
		}
		if len(batch) < in.cfg.SweepBatch {
			// The last batch: rows recorded since are for the next sweep,
			// which their Receive asked for.
			break
		}
	}
	if failed > 0 {
		return published, fmt.Errorf("sweep: %d events not published: %w", failed, lastErr)
	}
	return published, nil
}

// unpublishedQuery returns the query of a batch of the outbox, which reads
// the partial index uploads_unpublished. The limit is part of the text, not
// a parameter: SQLite plans with a bound LIMIT's value and so prepares the
// statement anew whenever it is bound again, which took four times as long as
// running it.
func unpublishedQuery(limit int) string {
	return `SELECT ` + uploadColumns + ` FROM uploads
	WHERE published_at IS NULL AND id > $1 ORDER BY id LIMIT ` + strconv.Itoa(limit)
}

// unpublished returns the first SweepBatch unpublished uploads after the id
// after, oldest first. The query is prepared once: the publisher runs it
// after every Receive, and parsing it cost more than running it.
func (in *Intake) unpublished(ctx context.Context, after string) ([]Upload, error) {
	stmt, err := in.prepared(ctx, in.sweepQuery)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.QueryContext(ctx, after)
	if err != nil {
		return nil, err
	}
	return scanUploads(rows)
}

// batchResult is the outcome of publishing one batch.
type batchResult struct {
	acked  []string            // ids JetStream acknowledged
	failed map[string][]string // ids whose publish failed, by error message
	stop   error               // why the sweep must stop, if it must
}

// fail records that the publish of upload id failed with err. Uploads that
// failed alike are marked together: err names no upload.
func (r *batchResult) fail(id string, err error) {
	if r.failed == nil {
		r.failed = map[string][]string{}
	}
	msg := err.Error()
	r.failed[msg] = append(r.failed[msg], id)
}

// publishBatch publishes the received events of batch asynchronously, in
// order, and waits for their acknowledgements until the publish timeout
// passes or ctx ends. Events whose outcome is unknown when ctx ends are
// neither acknowledged nor failed: they stay in the outbox.
func (in *Intake) publishBatch(ctx context.Context, batch []Upload) batchResult {
	var (
		r       batchResult
		inARow  int
		futures = make([][]jetstream.PubAckFuture, 0, len(batch))
	)
	// A publish that fails at once (disconnected, no slot) fails the same way
	// for the rest of the batch: stop sending after a few in a row.
	for _, u := range batch {
		fs, err := in.publishAsync(ctx, u)
		futures = append(futures, fs)
		if err != nil {
			r.fail(u.ID, err)
			if inARow++; inARow >= sweepGiveUp {
				r.stop = fmt.Errorf("%d publishes in a row failed: %w", inARow, err)
				break
			}
			continue
		}
		inARow = 0
	}

	timeout := time.NewTimer(in.cfg.PublishTimeout)
	defer timeout.Stop()
	late := fmt.Errorf("no acknowledgement within %s", in.cfg.PublishTimeout)
	expired := false
	inARow = 0
	for i, fs := range futures {
		if fs == nil { // failed at once, recorded above
			inARow++
			continue
		}
		id := batch[i].ID
		var err error
		for _, f := range fs {
			if expired { // the rest of the batch had as long: take what came
				select {
				case <-f.Ok():
				case err = <-f.Err():
				default:
					err = late
				}
			} else {
				select {
				case <-f.Ok():
				case err = <-f.Err():
				case <-timeout.C:
					expired, err = true, late
				case <-ctx.Done():
					r.stop = ctx.Err()
					return r
				}
			}
			if err != nil {
				break
			}
		}
		if err != nil {
			r.fail(id, fmt.Errorf("publish upload %s: %w", id, err))
			if inARow++; inARow >= sweepGiveUp && r.stop == nil {
				r.stop = fmt.Errorf("%d publishes in a row failed: %w", inARow, err)
			}
			continue
		}
		inARow = 0
		r.acked = append(r.acked, id)
	}
	return r
}

// publishAsync sends the first task of u's current attempt into the tasks
// stream and, on the first attempt of an upload that is not a dry run, its
// received event into the events stream, without waiting for the
// acknowledgements. The task's subject names the stage the content needs,
// found by sniffing the first bytes of the upload's blob.
func (in *Intake) publishAsync(ctx context.Context, u Upload) ([]jetstream.PubAckFuture, error) {
	root := RootObject(u)
	stage, key, err := in.firstStage(ctx, u, root.Key)
	if err != nil {
		return nil, err
	}
	root.Key = key
	body, err := json.Marshal(Task{Object: root, Attempt: u.Attempt})
	if err != nil {
		return nil, fmt.Errorf("encode task of upload %s: %w", u.ID, err)
	}
	task := nats.NewMsg(TaskSubject(stage))
	task.Data = body
	f, err := in.pub.PublishMsgAsync(task, jetstream.WithMsgID(TaskMsgID(root.ID)), jetstream.WithExpectStream(TasksStream))
	if err != nil {
		return nil, fmt.Errorf("publish on %q: %w", task.Subject, err)
	}
	fs := []jetstream.PubAckFuture{f}
	if u.Attempt > 1 || u.DryRun() {
		return fs, nil
	}
	ev, err := ReceivedEvent(u, in.source)
	if err != nil {
		return nil, err
	}
	subject := ReceivedSubject(u.Account)
	msg, err := eventMsg(subject, ev)
	if err != nil {
		return nil, err
	}
	f, err = in.pub.PublishMsgAsync(msg, jetstream.WithMsgID(u.ID), jetstream.WithExpectStream(EventsStream))
	if err != nil {
		return nil, fmt.Errorf("publish on %q: %w", subject, err)
	}
	return append(fs, f), nil
}

// firstStage returns the stage that takes the upload's content, from its
// first bytes, and the key of the content. A blob lost in a crash
// (Receive does not sync its link) is imported again from the received
// file; when that is gone too, the task goes to the csv stage, whose tries
// fail and record why.
func (in *Intake) firstStage(ctx context.Context, u Upload, key string) (string, string, error) {
	head, err := readHead(ctx, in.blobs, key)
	if errors.Is(err, fs.ErrNotExist) {
		if err = blob.Import(ctx, in.blobs, key, u.File); err == nil {
			head, err = readHead(ctx, in.blobs, key)
		}
	}
	if err != nil {
		in.logger.Warn("upload content unreadable", "upload", u.ID, "err", err)
		return StageCSV, key, nil
	}
	return stageFor(Sniff(head)), key, nil
}

// Kick asks a running publisher (RunSweeper) to sweep now, even while it
// backs off after failures; cmd calls it when NATS reconnected and when the
// events stream exists. It never blocks; kicks while a sweep is pending
// coalesce.
func (in *Intake) Kick() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// wakePublisher tells the publisher that an upload was recorded. It never
// blocks; wakes coalesce, and a wake sent while a sweep runs starts another
// one after it, which reads the rows recorded meanwhile as one batch.
func (in *Intake) wakePublisher() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// RunSweeper is the intake's publisher. It sweeps at once (publishing what a
// crash left in the outbox), then whenever Receive records an upload (after
// the publish delay, which gathers the uploads that follow it into the same
// sweep), Kick is called or every interval passes (the configured
// SweepInterval when every is 0), until ctx ends; then it returns nil. While
// one sweep runs, the uploads received meanwhile wait for the next, so
// batches grow with the load. After a sweep that failed without publishing
// anything (NATS down, no stream) it backs off, 100 ms doubling up to the
// interval, before sweeping for new uploads again; Kick and the interval
// sweep at once, Kick also during the publish delay.
// Sweep errors are logged, not returned. Run it once per Intake.
func (in *Intake) RunSweeper(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = in.cfg.SweepInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	gather := time.NewTimer(0)
	defer gather.Stop()
	var backoff time.Duration
	for {
		n, err := in.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && n == 0:
			backoff = min(max(2*backoff, minBackoff), every)
			in.logger.Warn("outbox publish failed; retrying later", "retry_in", backoff, "err", err)
		case err != nil:
			backoff = 0
			in.logger.Warn("outbox publish partly failed", "published", n, "err", err)
		default:
			backoff = 0
			in.logger.Debug("outbox swept", "published", n)
		}
		wake := in.wake
		retry.Stop()
		if backoff > 0 {
			wake = nil // uploads wait for the retry
			retry.Reset(backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-in.kick:
		case <-wake:
			if d := in.cfg.PublishDelay; d > 0 {
				gather.Reset(d)
				select {
				case <-ctx.Done():
					return nil
				case <-gather.C:
				case <-in.kick:
				}
			}
		case <-retry.C:
		}
	}
}
