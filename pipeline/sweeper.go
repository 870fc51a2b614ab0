package pipeline

import (
	"context"
	"fmt"
	"time"
)

// sweepGiveUp is the number of publishes in a row that must fail before a
// sweep stops: then NATS is unreachable rather than one event unpublishable,
// and the next sweep tries again.
const sweepGiveUp = 3

// Sweep publishes the received event of every upload not yet marked
// published, oldest first, reading SweepBatch uploads at a time and marking
// each batch in one statement. Events already in the stream are dropped by
// JetStream as duplicates, so a sweep racing Receive or another sweep
// publishes nothing twice. It returns the number of uploads it marked
// published, and an error when any publish failed; it stops early when ctx
// ends or several publishes in a row fail. It is safe for concurrent use and
// blocks until done.
func (in *Intake) Sweep(ctx context.Context) (int, error) {
	var (
		after             string
		published, failed int
		inARow            int
		lastErr           error
	)
	for {
		batch, err := queryUploads(ctx, in.db, `SELECT `+uploadColumns+` FROM uploads
			WHERE published_at IS NULL AND id > $1 ORDER BY id LIMIT $2`, after, in.cfg.SweepBatch)
		if err != nil {
			return published, fmt.Errorf("sweep: read unpublished uploads: %w", err)
		}
		var (
			done []string
			stop error
		)
		for _, u := range batch {
			if err := ctx.Err(); err != nil {
				stop = fmt.Errorf("sweep: %w", err)
				break
			}
			after = u.ID
			if err := in.publishOnly(ctx, u); err != nil {
				in.markFailed(ctx, u.ID, err)
				failed, lastErr = failed+1, err
				if inARow++; inARow >= sweepGiveUp {
					stop = fmt.Errorf("sweep: %d publishes in a row failed: %w", inARow, err)
					break
				}
				continue
			}
			inARow = 0
			done = append(done, u.ID)
		}
		if err := in.markPublished(context.WithoutCancel(ctx), in.now().UTC().Truncate(time.Microsecond), done...); err != nil {
			return published, fmt.Errorf("sweep: %w", err)
		}
		published += len(done)
		switch {
		case stop != nil:
			return published, stop
		case len(batch) < in.cfg.SweepBatch && failed > 0:
			return published, fmt.Errorf("sweep: %d events not published: %w", failed, lastErr)
		case len(batch) < in.cfg.SweepBatch:
			return published, nil
		}
	}
}

// publishOnly publishes u's received event without recording the outcome.
func (in *Intake) publishOnly(ctx context.Context, u Upload) error {
	ev, err := ReceivedEvent(u, in.source)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, in.cfg.PublishTimeout)
	defer cancel()
	_, err = publishEvent(pctx, in.js, ReceivedSubject(u.Account), u.ID, ev)
	return err
}

// Kick asks a running sweeper to sweep now, for instance after NATS
// reconnected. It never blocks; kicks while a sweep is pending coalesce.
func (in *Intake) Kick() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// RunSweeper sweeps at once, then every interval (the configured
// SweepInterval when every is 0) and whenever Kick is called, until ctx
// ends; then it returns nil. Sweep errors are logged, not returned.
func (in *Intake) RunSweeper(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = in.cfg.SweepInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := in.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			in.logger.Warn("outbox sweep stopped; retrying later", "published", n, "retry_in", every, "err", err)
		case n > 0:
			in.logger.Info("outbox swept", "published", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-in.kick:
		}
	}
}
