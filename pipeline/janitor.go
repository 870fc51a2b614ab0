package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sluicehq/sluice/blob"
)

// maxDeliveriesSubject carries JetStream's advisories of tasks that were
// delivered MaxDeliver times without being acknowledged: their worker
// crashed, hung past every heartbeat or was stopped on each try.
const maxDeliveriesSubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + TasksStream + ".*"

// maxDeliveriesAdvisory is the part of the advisory the runner reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// onMaxDeliveries fails the file of a task JetStream gave up on, with the
// last error its tries recorded, and removes the task from the stream
// (a work queue keeps an unacknowledged message forever). Runners of every
// node share one queue group: one of them handles each advisory.
func (r *Runner) onMaxDeliveries(ctx context.Context, m *nats.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.Stream != TasksStream {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	log := r.logger.With("consumer", adv.Consumer, "seq", adv.StreamSeq, "deliveries", adv.Deliveries)
	stream, err := r.js.Stream(ctx, TasksStream)
	if err != nil {
		log.Error("task out of deliveries not handled", "err", err)
		return
	}
	raw, err := stream.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		// Terminated or acknowledged meanwhile: nothing to do.
		log.Debug("task out of deliveries is gone", "err", err)
		return
	}
	if err := r.giveUp(ctx, raw.Data, adv.Deliveries); err != nil {
		log.Error("task out of deliveries not handled", "err", err)
		return
	}
	if err := stream.DeleteMsg(ctx, adv.StreamSeq); err != nil {
		log.Warn("task out of deliveries not removed", "err", err)
	}
}

// giveUp fails the pending file of a task that ran out of deliveries.
func (r *Runner) giveUp(ctx context.Context, data []byte, deliveries uint64) error {
	task, err := decodeTask(data)
	if err != nil {
		return err
	}
	u, err := r.upload(ctx, task.Object.UploadID)
	if err != nil || u.Attempt != task.Attempt {
		return err
	}
	f, err := getFile(ctx, r.db, task.Object.ID)
	if err != nil || f.Status != FilePending {
		return err // the root's first tries died before recording it: left to the admin's retry
	}
	last := f.Error
	if last == "" {
		last = "no worker finished it in time (crashed, stopped or hung)"
	}
	f.Status, f.Deliveries = FileFailed, int(deliveries)
	f.Error = fmt.Sprintf("internal error after %d tries: %s", deliveries, last)
	r.metrics.files.WithLabelValues(f.Next, "failed").Inc()
	r.metrics.failed.Inc()
	r.logger.Error("task out of deliveries; the file failed", "upload", u.ID, "file", f.ID, "stage", f.Next, "err", last)
	if err := r.settle(ctx, u, f, nil); err != nil && err != errDrop {
		return err
	}
	return nil
}

// staleRemover is a blob store that can remove the temporary files of
// writers that died before they committed (a crash); blob.Dir and
// sshserver.Reports are.
type staleRemover interface {
	RemoveStale(ctx context.Context) (int, error)
}

// Purge removes what the archive period is over for: the blobs of uploads
// that finished longer ago than retention.archive (original, outputs,
// reports) and their report files in /reports. The records stay, marked
// purged. It also removes the temporary files of blob writers that died. It
// returns how many uploads it purged and is safe for concurrent use.
func (r *Runner) Purge(ctx context.Context) (int, error) {
	if sr, ok := r.blobs.(staleRemover); ok {
		if n, err := sr.RemoveStale(ctx); err != nil {
			r.logger.Warn("stale blob files not removed", "err", err)
		} else if n > 0 {
			r.logger.Info("stale blob files removed", "files", n)
		}
	}
	if sr, ok := r.reports.(staleRemover); ok {
		if n, err := sr.RemoveStale(ctx); err != nil {
			r.logger.Warn("stale report files not removed", "err", err)
		} else if n > 0 {
			r.logger.Info("stale report files removed", "files", n)
		}
	}
	cutoff := r.now().Add(-r.archive).UnixMicro()
	purged := 0
	for {
		batch, err := queryUploads(ctx, r.db, `SELECT `+uploadColumns+` FROM uploads
			WHERE finished_at < $1 AND purged_at IS NULL ORDER BY id LIMIT 100`, cutoff)
		if err != nil {
			return purged, fmt.Errorf("purge: %w", err)
		}
		for _, u := range batch {
			if err := r.removeBlobs(ctx, u); err != nil {
				return purged, fmt.Errorf("purge upload %s: %w", u.ID, err)
			}
			if r.reports != nil {
				for _, name := range []string{ReportName(u), ErrorsName(u)} {
					if err := r.reports.RemoveReport(ctx, u.Account, name); err != nil {
						return purged, fmt.Errorf("purge upload %s: %w", u.ID, err)
					}
				}
			}
			if _, err := r.db.ExecContext(ctx, `UPDATE uploads SET purged_at = $1 WHERE id = $2`, r.now().UnixMicro(), u.ID); err != nil {
				return purged, fmt.Errorf("purge upload %s: %w", u.ID, err)
			}
			purged++
		}
		if len(batch) < 100 {
			return purged, nil
		}
	}
}

// removeBlobs removes every blob of u the store knows of: the original, the
// outputs and problem lists of every attempt, the reports. A shared store
// lists its names bucket-wide, so the keys come from the records; a local
// folder is then removed whole, with whatever a crash left in it.
func (r *Runner) removeBlobs(ctx context.Context, u Upload) error {
	files, err := queryFiles(ctx, r.db, `SELECT `+fileColumns+` FROM files WHERE upload_id = $1`, u.ID)
	if err != nil {
		return err
	}
	keys := []string{UploadBlobKey(u.ID)}
	for _, f := range files {
		if f.Object.Key != "" && f.Stage != "upload" {
			keys = append(keys, f.Object.Key)
		}
		if res := f.Object.Result; res != nil && res.ProblemsKey != "" {
			keys = append(keys, res.ProblemsKey)
		}
	}
	for n := 1; n <= u.Attempt; n++ {
		a := u
		a.Attempt = n
		keys = append(keys, reportKey(a), errorsKey(a))
	}
	for _, k := range keys {
		if err := r.blobs.Remove(ctx, k); err != nil {
			return err
		}
	}
	if _, local := r.blobs.(blob.Stater); local {
		return r.blobs.RemoveAll(ctx, u.ID)
	}
	return nil
}

// RunJanitor purges at once (a crash's leftovers go at start) and then
// every interval until ctx ends, when it returns nil. Every two seconds it
// also delivers the uploads this node received whose pipeline finished on
// another node, or whose delivery a crash cut short.
func (r *Runner) RunJanitor(ctx context.Context, every time.Duration) error {
	purge := time.NewTicker(every)
	defer purge.Stop()
	deliver := time.NewTicker(2 * time.Second)
	defer deliver.Stop()
	for {
		if n, err := r.Purge(ctx); err != nil {
			r.logger.Warn("archive purge failed", "err", err)
		} else if n > 0 {
			r.logger.Info("archive purged", "uploads", n)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-purge.C:
				break wait
			case <-deliver.C:
				if _, err := r.deliverPending(ctx); err != nil && ctx.Err() == nil {
					r.logger.Warn("delivery of finished uploads failed", "err", err)
				}
			}
		}
	}
}
