package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
)

// ReportWriter puts an upload's reports where the customer reads them: the
// /reports folder of the account's SFTP tree. cmd implements it over the
// accounts' home folders.
type ReportWriter interface {
	// WriteReport replaces the report file name of account with content.
	WriteReport(ctx context.Context, account, name string, content []byte) error
	// RemoveReport removes the report file name of account; a missing
	// file is not an error.
	RemoveReport(ctx context.Context, account, name string) error
}

// RunnerDeps are what a Runner works with. Reports and Metrics are
// optional.
type RunnerDeps struct {
	DB      *store.DB
	JS      jetstream.JetStream
	Blobs   Blobs
	Stages  []Stage // one per stage name: pgp, zip, csv
	Reports ReportWriter
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	// Archive is how long an upload's original and outputs are kept after
	// it finished (retention.archive).
	Archive time.Duration
	// Node names this node (pipeline.intake.node): the runner delivers the
	// reports and archives the originals of the uploads it received.
	Node string
}

// Runner runs the pipeline's stages over the tasks stream: for each stage a
// durable pull consumer and Workers goroutines that take a task, run the
// stage, record its outputs, publish their tasks or events, and only then
// acknowledge the task. It is safe for concurrent use; run it on as many
// nodes as needed, the consumers share the work.
type Runner struct {
	cfg     RunnerConfig
	db      *store.DB
	js      jetstream.JetStream
	pub     jetstream.JetStream
	blobs   Blobs
	stages  map[string]Stage
	reports ReportWriter
	metrics *metrics
	logger  *slog.Logger
	archive time.Duration
	node    string
	source  string
	now     func() time.Time
}

// NewRunner returns a Runner of deps.Stages. The tasks stream must exist
// (TaskStreamConfig) when Run starts, or appear soon after: Run waits for it.
func NewRunner(cfg RunnerConfig, deps RunnerDeps) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.JS == nil || deps.Blobs == nil || deps.Logger == nil || len(deps.Stages) == 0 {
		return nil, errors.New("new runner: db, jetstream, blob store, logger and stages are required")
	}
	stages := map[string]Stage{}
	for _, s := range deps.Stages {
		if _, dup := stages[s.Name()]; dup || strings.ContainsAny(s.Name(), ". *>") || s.Name() == "" {
			return nil, fmt.Errorf("new runner: stage name %q is empty, invalid or given twice", s.Name())
		}
		stages[s.Name()] = s
	}
	for _, name := range []string{StagePGP, StageZIP, StageCSV} {
		if stages[name] == nil {
			return nil, fmt.Errorf("new runner: no %s stage", name)
		}
	}
	pub, err := jetstream.New(deps.JS.Conn(), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("new runner: publishing context: %w", err)
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	if deps.Archive <= 0 {
		deps.Archive = 30 * 24 * time.Hour
	}
	if deps.Node == "" {
		deps.Node = DefaultIntakeConfig().Node
	}
	return &Runner{
		cfg:     cfg,
		db:      deps.DB,
		js:      deps.JS,
		pub:     pub,
		blobs:   deps.Blobs,
		stages:  stages,
		reports: deps.Reports,
		metrics: m,
		logger:  deps.Logger.With("component", "runner"),
		archive: deps.Archive,
		node:    deps.Node,
		source:  "/sluice/" + deps.Node,
		now:     time.Now,
	}, nil
}

// Run creates or updates the stage consumers and works on tasks until ctx
// ends; then it lets the tasks in hand finish (or hands them back for
// redelivery when their stage stops on the cancelled context) and returns
// nil. It also handles JetStream's advisories of tasks that ran out of
// deliveries. It blocks; call it once per Runner.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.Workers == 0 {
		return errors.New("runner: pipeline.workers is 0: this process runs no workers")
	}
	consumers := map[string]jetstream.Consumer{}
	for name := range r.stages {
		c, err := r.ensureConsumer(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		consumers[name] = c
	}
	sub, err := r.js.Conn().QueueSubscribe(maxDeliveriesSubject, "sluice-runner", func(m *nats.Msg) {
		r.onMaxDeliveries(ctx, m)
	})
	if err != nil {
		return fmt.Errorf("runner: subscribe to max-deliveries advisories: %w", err)
	}
	defer sub.Unsubscribe()

	var wg sync.WaitGroup
	for name, c := range consumers {
		st := r.stages[name]
		for range r.cfg.Workers {
			wg.Go(func() { r.work(ctx, st, c) })
		}
	}
	wg.Go(func() { r.watchPending(ctx, consumers) })
	r.logger.Info("pipeline workers started", "stages", len(consumers), "workers", r.cfg.Workers)
	wg.Wait()
	return nil
}

// ensureConsumer creates or updates the durable consumer of stage, retrying
// with short attempts while the stream does not exist or the cluster has no
// leader yet.
func (r *Runner) ensureConsumer(ctx context.Context, stage string) (jetstream.Consumer, error) {
	backoff := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := r.js.CreateOrUpdateConsumer(actx, TasksStream, ConsumerConfig(r.cfg, stage))
		cancel()
		if err == nil {
			return c, nil
		}
		r.logger.Warn("stage consumer not ready; retrying", "stage", stage, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// work takes tasks of one stage, one at a time, until ctx ends.
func (r *Runner) work(ctx context.Context, st Stage, c jetstream.Consumer) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		msg, err := c.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				r.logger.Debug("fetch task", "stage", st.Name(), "err", err)
				select { // NATS down: do not spin
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		r.handle(ctx, st, msg)
	}
}

// handle runs one task to its acknowledgement: nothing is acknowledged
// before the outputs are recorded and their tasks or events published.
func (r *Runner) handle(ctx context.Context, st Stage, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		r.logger.Error("task without metadata; dropped", "stage", st.Name(), "err", err)
		_ = msg.Term()
		return
	}
	task, err := decodeTask(msg.Data())
	if err != nil {
		r.logger.Error("malformed task; dropped", "stage", st.Name(), "err", err)
		_ = msg.TermWithReason(err.Error())
		return
	}
	if md.NumDelivered > 1 {
		r.metrics.redeliveries.Inc()
	}
	log := r.logger.With("stage", st.Name(), "upload", task.Object.UploadID, "file", task.Object.ID, "delivery", md.NumDelivered)
	err = r.run(ctx, st, msg, task, int(md.NumDelivered), log)
	switch {
	case err == nil:
		if err := msg.DoubleAck(context.WithoutCancel(ctx)); err != nil {
			// Redelivered later; every step above is idempotent.
			log.Warn("task acknowledgement lost; it will be redelivered", "err", err)
		}
	case errors.Is(err, errDrop):
		_ = msg.Term()
	case ctx.Err() != nil:
		// Shutting down: hand the task back at once.
		_ = msg.Nak()
	default:
		// Kept on the file: the admin API shows it, and the max-deliveries
		// advisory fails the file with it after the last try.
		r.recordTry(ctx, task.Object.ID, int(md.NumDelivered), err)
		delay := r.cfg.backoff(int(md.NumDelivered))
		log.Warn("task failed; retrying", "retry_in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
	}
}

// errDrop tells handle to terminate a task that is no longer wanted.
var errDrop = errors.New("task dropped")

// run does the work of one task. It returns nil when the task is done (and
// must be acknowledged), errDrop when it must be terminated, and any other
// error to retry it.
func (r *Runner) run(ctx context.Context, st Stage, msg jetstream.Msg, task Task, delivery int, log *slog.Logger) error {
	u, err := r.upload(ctx, task.Object.UploadID)
	if errors.Is(err, credentials.ErrNotFound) {
		log.Warn("task of an unknown upload; dropped")
		return errDrop
	}
	if err != nil {
		return err
	}
	if u.Attempt != task.Attempt {
		log.Info("task of an earlier attempt; dropped", "attempt", task.Attempt, "current", u.Attempt)
		return errDrop
	}
	f, err := getFile(ctx, r.db, task.Object.ID)
	switch {
	case errors.Is(err, credentials.ErrNotFound) && task.Object.ID == RootID(u.ID, u.Attempt):
		if f, err = r.start(ctx, u, task.Object, st.Name()); err != nil {
			return err
		}
	case errors.Is(err, credentials.ErrNotFound):
		log.Error("task of an unrecorded file; dropped")
		return errDrop
	case err != nil:
		return err
	}
	if f.Status != FilePending {
		// A redelivery of a task whose outcome is recorded: publish again
		// what may not have gone out, and finish.
		return r.announce(ctx, u, f)
	}

	stop := r.heartbeat(ctx, msg)
	pctx, cancel := context.WithTimeout(ctx, r.cfg.TaskTimeout)
	began := r.now()
	outs, perr := st.Process(pctx, f.Object)
	cancel()
	stop()
	r.metrics.stageDuration.WithLabelValues(st.Name()).Observe(r.now().Sub(began).Seconds())
	f.Deliveries = delivery

	switch {
	case perr != nil && !IsPermanent(perr):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.metrics.files.WithLabelValues(st.Name(), "retried").Inc()
		if delivery < r.cfg.MaxDeliver {
			return perr
		}
		log.Error("task failed for the last time; the file failed", "err", perr)
		r.metrics.files.WithLabelValues(st.Name(), "failed").Inc()
		r.metrics.failed.Inc()
		f.Status, f.Error = FileFailed, fmt.Sprintf("internal error after %d tries: %v", delivery, perr)
		if err := r.settle(ctx, u, f, nil); err != nil {
			return err
		}
		return errDrop
	case perr != nil:
		r.metrics.files.WithLabelValues(st.Name(), "rejected").Inc()
		f.Status, f.Error = FileRejected, perr.Error()
		if err := r.settle(ctx, u, f, nil); err != nil {
			return err
		}
		return errDrop
	}
	r.metrics.files.WithLabelValues(st.Name(), "ok").Inc()
	r.metrics.bytes.WithLabelValues(st.Name()).Add(float64(f.Object.Size))
	children, err := r.plan(ctx, f, st.Name(), outs)
	if err != nil {
		return err
	}
	f.Status = FileDone
	if len(children) == 0 {
		f.Status, f.Error = FileRejected, emptyReason(st.Name())
	}
	return r.settle(ctx, u, f, children)
}

// emptyReason says why a stage that yielded nothing rejects its input.
func emptyReason(stage string) string {
	if stage == StageZIP {
		return "the archive holds no files (folders, __MACOSX/ and .DS_Store entries are skipped)"
	}
	return "the " + stage + " stage yielded no file"
}

// start records the upload's own file when its first task is taken, and
// marks the upload processing.
func (r *Runner) start(ctx context.Context, u Upload, root Object, stage string) (File, error) {
	now := r.now().UTC().Truncate(time.Microsecond)
	f := newFile(root, u.Attempt, "upload", root.Name, FilePending, now)
	f.Next = stage
	err := r.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := insertFile(ctx, tx, f); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE uploads SET status = 'processing', updated_at = $1
			WHERE id = $2 AND attempt = $3 AND status = 'received'`, now.UnixMicro(), u.ID, u.Attempt)
		return err
	})
	if err != nil {
		return File{}, fmt.Errorf("start upload %s: %w", u.ID, err)
	}
	return getFile(ctx, r.db, f.ID)
}

// plan turns a stage's outputs into the records of the next files: pending
// for the stage their content needs, or final (a validated CSV, or rejected
// when the chain would grow too long).
func (r *Runner) plan(ctx context.Context, parent File, stage string, outs []Object) ([]File, error) {
	now := r.now().UTC().Truncate(time.Microsecond)
	files := make([]File, 0, len(outs))
	for _, o := range outs {
		// A rejected CSV has no content to keep: no key.
		if o.ID == "" || (o.Key == "" && (o.Result == nil || o.Result.Accepted)) {
			return nil, fmt.Errorf("stage %s returned an output without id or blob key", stage)
		}
		o.UploadID, o.ParentID = parent.UploadID, parent.ID
		f := newFile(o, parent.Attempt, stage, parent.lineage+lineageSep+o.Name, FilePending, now)
		switch {
		case o.Result != nil && o.Result.Accepted:
			f.Status = FileReady
		case o.Result != nil:
			f.Status, f.Error = FileRejected, resultError(o.Result)
		default:
			head, err := readHead(ctx, r.blobs, o.Key)
			if err != nil {
				return nil, fmt.Errorf("sniff output %q: %w", o.Name, err)
			}
			next, reject := route(r.cfg, o, head)
			if reject != "" {
				f.Status, f.Error = FileRejected, reject
			} else {
				f.Next = next
			}
		}
		f.fill()
		files = append(files, f)
	}
	return files, nil
}

// resultError says in one line why a CSV was rejected.
func resultError(res *Result) string {
	if res.Reason != "" {
		return res.Reason
	}
	msg := fmt.Sprintf("%d error(s)", res.ProblemsN)
	for _, p := range res.Problems {
		if !p.Warning {
			msg += fmt.Sprintf("; first at line %d", p.Line)
			if p.Column != "" {
				msg += ", column " + p.Column
			}
			msg += ": " + p.Message
			break
		}
	}
	return msg
}

// recordTry keeps the error of a failed try on the file, for the admin API
// to show while the task is retried.
func (r *Runner) recordTry(ctx context.Context, fileID string, delivery int, cause error) {
	_, err := r.db.ExecContext(context.WithoutCancel(ctx), `UPDATE files SET error = $1, deliveries = $2, updated_at = $3
		WHERE id = $4 AND status = 'pending'`, truncate(cause.Error(), 4000), delivery, r.now().UnixMicro(), fileID)
	if err != nil {
		r.logger.Warn("failed try not recorded", "file", fileID, "err", err)
	}
}

// settle records the outcome of f's task and the files made from it in one
// transaction, finishing the upload's attempt when no file is left pending;
// then it publishes the new files' tasks and events and, if the attempt
// finished, writes its reports and archives the upload.
func (r *Runner) settle(ctx context.Context, u Upload, f File, children []File) error {
	now := r.now().UTC().Truncate(time.Microsecond)
	var done *outcomeSummary
	err := r.db.InTx(ctx, func(tx *sql.Tx) error {
		// First statement: the upload's row lock (PostgreSQL) or the write
		// lock (SQLite), so that the last of several siblings to settle
		// sees the others settled.
		res, err := tx.ExecContext(ctx, `UPDATE uploads SET updated_at = $1 WHERE id = $2 AND attempt = $3`,
			now.UnixMicro(), u.ID, u.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errDrop // retried meanwhile: a newer attempt owns the upload
		}
		if _, err := updateFile(ctx, tx, f, now); err != nil {
			return err
		}
		for _, c := range children {
			if _, err := insertFile(ctx, tx, c); err != nil {
				return err
			}
		}
		done, err = finishIfDone(ctx, tx, u, now)
		return err
	})
	if err != nil {
		if errors.Is(err, errDrop) {
			return errDrop
		}
		return fmt.Errorf("record outcome of %s: %w", f.ID, err)
	}
	if done != nil {
		// Logged once, by the worker whose transaction ended the attempt.
		r.logOutcome(u, *done, now)
	}
	f.UpdatedAt = now
	return r.announce(ctx, u, f)
}

// outcomeSummary is what the end of an attempt logs.
type outcomeSummary struct {
	status Status
	reason string
	rows   int64
	files  int
}

// logOutcome writes the one log line of an upload's outcome and moves the
// metrics of finished uploads.
func (r *Runner) logOutcome(u Upload, o outcomeSummary, at time.Time) {
	d := at.Sub(u.ReceivedAt)
	if o.status == StatusReady {
		r.metrics.uploadToReady.Observe(d.Seconds())
	}
	attrs := []any{"upload", u.ID, "account", u.Account, "feed", u.Feed, "path", u.Path, "size", u.Size,
		"duration", d, "result", string(o.status), "rows", o.rows, "files", o.files, "attempt", u.Attempt, "dry_run", u.DryRun()}
	if o.reason != "" {
		attrs = append(attrs, "reason", o.reason)
	}
	r.logger.Info("upload processed", attrs...)
}

// finishIfDone sets the attempt's final status once none of its files is
// pending: failed when any failed, rejected when any was rejected, ready
// otherwise. It returns what it decided, or nil when the attempt goes on
// or was finished before.
func finishIfDone(ctx context.Context, tx *sql.Tx, u Upload, now time.Time) (*outcomeSummary, error) {
	var pending int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM files WHERE upload_id = $1 AND attempt = $2 AND status = 'pending'`,
		u.ID, u.Attempt).Scan(&pending); err != nil {
		return nil, err
	}
	if pending > 0 {
		return nil, nil
	}
	files, err := attemptFiles(ctx, tx, u.ID, u.Attempt)
	if err != nil {
		return nil, err
	}
	status, reason := outcome(files)
	res, err := tx.ExecContext(ctx, `UPDATE uploads SET status = $1, error = $2, finished_at = $3, updated_at = $3
		WHERE id = $4 AND attempt = $5 AND status IN ('received', 'processing')`,
		string(status), truncate(reason, 1000), now.UnixMicro(), u.ID, u.Attempt)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	o := &outcomeSummary{status: status, reason: reason}
	for _, f := range files {
		if f.Leaf() {
			o.files++
			if f.Status == FileReady {
				o.rows += f.Rows
			}
		}
	}
	return o, nil
}

// outcome judges an attempt by its final files (DESIGN.md): failed if any
// failed, rejected if any was rejected, ready if every CSV is ready.
func outcome(files []File) (Status, string) {
	var failed, rejected, ready []File
	for _, f := range files {
		switch f.Status {
		case FileFailed:
			failed = append(failed, f)
		case FileRejected:
			rejected = append(rejected, f)
		case FileReady:
			ready = append(ready, f)
		}
	}
	switch {
	case len(failed) > 0:
		return StatusFailed, failed[0].Name + ": " + failed[0].Error
	case len(rejected) > 0:
		return StatusRejected, rejected[0].Name + ": " + rejected[0].Error
	case len(ready) > 0:
		return StatusReady, ""
	}
	return StatusRejected, "the upload yielded no file"
}

// announce publishes, for f and the files made from it, what the recorded
// outcome calls for — the tasks of pending files, the events of ready and
// rejected ones — and waits for JetStream's acknowledgements; then, if the
// upload's attempt finished, it writes the reports and archives the upload.
// Everything it does is idempotent: a redelivered task announces again, and
// JetStream drops the copies (the message ids are the files' ids).
func (r *Runner) announce(ctx context.Context, u Upload, f File) error {
	children, err := childFiles(ctx, r.db, f)
	if err != nil {
		return err
	}
	var futures []jetstream.PubAckFuture
	send := func(msg *nats.Msg, id, stream string) error {
		fut, err := r.pub.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(stream))
		if err != nil {
			return fmt.Errorf("publish on %q: %w", msg.Subject, err)
		}
		futures = append(futures, fut)
		return nil
	}
	event := func(f File) error {
		if u.DryRun() || (f.Status != FileReady && f.Status != FileRejected) {
			return nil
		}
		subject, ev, err := r.fileEvent(u, f)
		if err != nil {
			return err
		}
		msg, err := eventMsg(subject, ev)
		if err != nil {
			return err
		}
		return send(msg, ev.ID, EventsStream)
	}
	if err := event(f); err != nil {
		return err
	}
	for _, c := range children {
		if c.Status == FilePending {
			body, err := json.Marshal(Task{Object: c.Object, Attempt: c.Attempt})
			if err != nil {
				return err
			}
			msg := nats.NewMsg(TaskSubject(c.Next))
			msg.Data = body
			if err := send(msg, TaskMsgID(c.ID), TasksStream); err != nil {
				return err
			}
			continue
		}
		if err := event(c); err != nil {
			return err
		}
	}
	if err := waitAll(ctx, futures); err != nil {
		return err
	}
	fresh, err := r.upload(ctx, u.ID)
	if err != nil {
		return err
	}
	if fresh.Attempt == u.Attempt && fresh.FinishedAt != nil {
		return r.finish(ctx, fresh)
	}
	return nil
}

// waitAll waits for every publish's acknowledgement.
func waitAll(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %q: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// fileEvent returns the subject and the ready or rejected event of f.
func (r *Runner) fileEvent(u Upload, f File) (string, Event, error) {
	d := FileData{
		UploadID:   u.ID,
		FileID:     f.ID,
		Attempt:    u.Attempt,
		Account:    u.Account,
		Feed:       u.Feed,
		UploadName: u.Name(),
		Path:       u.Path,
		FileName:   f.Name,
		Chain:      f.Chain,
		Size:       f.Size,
		SHA256:     f.SHA256,
		Rows:       f.Rows,
		Columns:    f.Columns,
		ReportURL:  ReportURL(u.ID),
		Signer:     f.Object.Signer,
		ReceivedAt: u.ReceivedAt,
	}
	if d.Columns == nil {
		d.Columns = []string{}
	}
	if res := f.Object.Result; res != nil {
		d.RejectedRows, d.Warnings = res.Rejected, res.Warnings
		for _, p := range res.Problems {
			if !p.Warning && len(d.Errors) < 5 {
				d.Errors = append(d.Errors, p)
			}
		}
		if !res.Accepted {
			d.ErrorsTotal = res.ProblemsN
		}
	}
	typ, prefix, suffix := TypeReady, SubjectReady, ".ready"
	if f.Status == FileReady {
		d.ContentURL = ContentURL(f.ID)
	} else {
		typ, prefix, suffix = TypeRejected, SubjectRejected, ".rejected"
		d.Error = f.Error
		if d.ErrorsTotal == 0 {
			d.ErrorsTotal = 1
		}
	}
	ev, err := NewEvent(f.ID+suffix, r.source, typ, u.Path, f.UpdatedAt, d)
	return OutcomeSubject(prefix, u.Account, u.Feed), ev, err
}

// heartbeat tells JetStream that msg's task is still being worked on, every
// Heartbeat, until the returned stop is called.
func (r *Runner) heartbeat(ctx context.Context, msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// upload reads upload id.
func (r *Runner) upload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(r.db.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Upload{}, fmt.Errorf("upload %q: %w", id, credentials.ErrNotFound)
		}
		return Upload{}, fmt.Errorf("read upload %q: %w", id, err)
	}
	return u, nil
}
