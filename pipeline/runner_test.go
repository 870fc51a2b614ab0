package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// The runner's tests drive it with small stages of our own (the real ones
// import this package; cmd/sluice's end-to-end tests run those over real
// gpg, 7z and sftp). Their formats keep the routing real: the runner sniffs
// outputs as it does in production.
//
//	"PK\x03\x04" then name=content lines: an "archive" (zip stage)
//	"-----BEGIN PGP MESSAGE-----\n" then the payload: a "message" (pgp stage)
//	anything else: "CSV" (csv stage); a line "bad" is an error in that line

const fakeArmor = "-----BEGIN PGP MESSAGE-----\n"

// putBlob writes content as blob key.
func putBlob(ctx context.Context, blobs Blobs, key string, content []byte) (int64, string, error) {
	w, err := blobs.Create(ctx, key)
	if err != nil {
		return 0, "", err
	}
	if _, err := w.Write(content); err != nil {
		_ = w.Abort()
		return 0, "", err
	}
	sum := sha256.Sum256(content)
	return int64(len(content)), hex.EncodeToString(sum[:]), w.Commit()
}

func getBlob(ctx context.Context, blobs Blobs, key string) ([]byte, error) {
	r, err := blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// output makes an output object of in.
func output(ctx context.Context, blobs Blobs, in Object, stage, name string, content []byte) (Object, error) {
	id := ChildID(in.ID, stage, name)
	o := in
	o.ID, o.ParentID, o.Name, o.Key = id, in.ID, name, in.UploadID+"/"+id
	o.Chain = append(append([]string{}, in.Chain...), stage)
	o.Result = nil
	var err error
	o.Size, o.SHA256, err = putBlob(ctx, blobs, o.Key, content)
	return o, err
}

type fakePGP struct{ blobs Blobs }

func (fakePGP) Name() string { return StagePGP }
func (s fakePGP) Process(ctx context.Context, in Object) ([]Object, error) {
	b, err := getBlob(ctx, s.blobs, in.Key)
	if err != nil {
		return nil, err
	}
	payload, ok := bytes.CutPrefix(b, []byte(fakeArmor))
	if !ok || bytes.HasPrefix(payload, []byte("tampered")) {
		return nil, Permanent(errors.New("integrity check failed: the message was tampered with or truncated"))
	}
	o, err := output(ctx, s.blobs, in, StagePGP, strings.TrimSuffix(in.Name, ".pgp"), payload)
	o.Encrypted = true
	return []Object{o}, err
}

type fakeZIP struct{ blobs Blobs }

func (fakeZIP) Name() string { return StageZIP }
func (s fakeZIP) Process(ctx context.Context, in Object) ([]Object, error) {
	b, err := getBlob(ctx, s.blobs, in.Key)
	if err != nil {
		return nil, err
	}
	var outs []Object
	for _, line := range strings.Split(strings.TrimPrefix(string(b), "PK\x03\x04"), "\x00") {
		name, content, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		o, err := output(ctx, s.blobs, in, StageZIP, name, []byte(content))
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

type fakeCSV struct{ blobs Blobs }

func (fakeCSV) Name() string { return StageCSV }
func (s fakeCSV) Process(ctx context.Context, in Object) ([]Object, error) {
	b, err := getBlob(ctx, s.blobs, in.Key)
	if err != nil {
		return nil, err
	}
	o, err := output(ctx, s.blobs, in, StageCSV, in.Name, b)
	if err != nil {
		return nil, err
	}
	res := &Result{Accepted: true, Columns: []string{"id"}}
	var problems bytes.Buffer
	problems.WriteString("line,column,value,message\n")
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := int64(1); sc.Scan(); line++ {
		if line == 1 {
			continue
		}
		if sc.Text() == "bad" {
			res.Accepted = false
			res.Rejected++
			res.ProblemsN++
			p := Problem{Line: line, Column: "id", Value: "bad", Message: "not an integer"}
			res.Problems = append(res.Problems, p)
			fmt.Fprintf(&problems, "%d,id,bad,not an integer\n", line)
			continue
		}
		res.Rows++
	}
	if res.ProblemsN > 0 {
		res.ProblemsKey = o.Key + ".errors.csv"
		if _, _, err := putBlob(ctx, s.blobs, res.ProblemsKey, problems.Bytes()); err != nil {
			return nil, err
		}
	}
	o.Result = res
	return []Object{o}, nil
}

// flaky fails the first n tries of every file with an internal error.
type flaky struct {
	Stage
	n     int32
	tries sync.Map // file id → *atomic.Int32
}

func (f *flaky) Process(ctx context.Context, in Object) ([]Object, error) {
	v, _ := f.tries.LoadOrStore(in.ID, new(atomic.Int32))
	if v.(*atomic.Int32).Add(1) <= f.n {
		return nil, errors.New("blob store unavailable")
	}
	return f.Stage.Process(ctx, in)
}

// feedList is a FeedLister of fixed feeds.
type feedList []credentials.Feed

func (l feedList) AllFeeds(context.Context) ([]credentials.Feed, error) { return l, nil }

// memReports is a ReportWriter into a folder per account.
type memReports struct{ dir string }

func (m memReports) WriteReport(_ context.Context, account, name string, content []byte) error {
	dir := filepath.Join(m.dir, account)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), content, 0o600)
}

func (m memReports) RemoveReport(_ context.Context, account, name string) error {
	err := os.Remove(filepath.Join(m.dir, account, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// pipelineEnv is a store, a real nats-server, an intake with its publisher
// and a runner.
type pipelineEnv struct {
	t       *testing.T
	db      *store.DB
	js      jetstream.JetStream
	blobs   *blob.Dir
	intake  *Intake
	runner  *Runner
	reports memReports
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan struct{}
}

func testRunnerConfig() RunnerConfig {
	cfg := DefaultRunnerConfig()
	cfg.Backoff = []time.Duration{300 * time.Millisecond, 500 * time.Millisecond}
	cfg.Heartbeat = 100 * time.Millisecond
	cfg.MaxDeliver = 4
	return cfg
}

// startPipeline runs an intake publisher and a runner whose stages wrap
// ours with wrap (nil: as they are).
func startPipeline(t *testing.T, db *store.DB, cfg RunnerConfig, wrap func(Stage) Stage) *pipelineEnv {
	t.Helper()
	n := startNATS(t)
	_, js := n.connect()
	env := &pipelineEnv{t: t, db: db, js: js, blobs: testBlobs(t), reports: memReports{dir: t.TempDir()}, reg: prometheus.NewRegistry()}
	env.intake = newTestIntakeBlobs(t, db, js, env.blobs)
	stages := []Stage{fakePGP{env.blobs}, fakeZIP{env.blobs}, fakeCSV{env.blobs}}
	if wrap != nil {
		for i, s := range stages {
			stages[i] = wrap(s)
		}
	}
	r, err := NewRunner(cfg, RunnerDeps{DB: db, JS: js, Blobs: env.blobs, Stages: stages, Reports: env.reports,
		Metrics: env.reg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Node: testIntakeConfig().Node})
	require.NoError(t, err)
	env.runner = r
	env.start()
	return env
}

func (env *pipelineEnv) start() {
	ctx, cancel := context.WithCancel(env.t.Context())
	env.cancel, env.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = env.intake.RunSweeper(ctx, 50*time.Millisecond) })
	wg.Go(func() { _ = env.runner.Run(ctx) })
	go func() { wg.Wait(); close(env.done) }()
	env.t.Cleanup(env.stop)
}

func (env *pipelineEnv) stop() {
	env.cancel()
	<-env.done
}

func newTestIntakeBlobs(t testing.TB, db *store.DB, js jetstream.JetStream, blobs Blobs) *Intake {
	t.Helper()
	in, err := NewIntake(testIntakeConfig(), db, js, testFeeds, blobs, slog.New(slog.NewTextHandler(t.Output(), nil)))
	require.NoError(t, err)
	return in
}

// upload receives content at p of account, as sshserver does on close.
func (env *pipelineEnv) upload(account, p, content string) Upload {
	env.t.Helper()
	u, err := env.intake.Receive(env.t.Context(), newUpload(account, p, content))
	require.NoError(env.t, err)
	return u
}

// final waits until upload id reached a final state and returns it.
func (env *pipelineEnv) final(id string) Upload {
	env.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := env.intake.Upload(env.t.Context(), id)
		require.NoError(env.t, err)
		if u.FinishedAt != nil && u.ArchivedAt != nil {
			return u
		}
		require.True(env.t, time.Now().Before(deadline), "upload %s still %s: %+v", id, u.Status, u.Files)
		time.Sleep(20 * time.Millisecond)
	}
}

// outcomeEvents returns the ready and rejected events in the stream.
func (env *pipelineEnv) outcomeEvents() []Event {
	env.t.Helper()
	var out []Event
	for _, m := range events(env.t, env.js) {
		if strings.HasPrefix(m.Subject, SubjectReceived+".") {
			continue
		}
		var ev Event
		require.NoError(env.t, json.Unmarshal(m.Data, &ev))
		require.Equal(env.t, ev.ID, m.Header.Get("Nats-Msg-Id"))
		out = append(out, ev)
	}
	return out
}

func fileData(t *testing.T, ev Event) FileData {
	t.Helper()
	var d FileData
	require.NoError(t, json.Unmarshal(ev.Data, &d))
	return d
}

func TestRunnerCSVReady(t *testing.T) {
	for _, db := range storetest.Backends(t) {
		t.Run(db.Name, func(t *testing.T) {
			env := startPipeline(t, db.Open(t), testRunnerConfig(), nil)
			u := env.upload("acme", "/orders/x.csv", "id\n1\n2\n3\n")
			got := env.final(u.ID)
			require.Equal(t, StatusReady, got.Status)
			require.Len(t, got.Files, 2, "the upload and its validated CSV")
			require.Equal(t, "upload", got.Files[0].Stage)
			require.Equal(t, FileDone, got.Files[0].Status)
			csv := got.Files[1]
			require.Equal(t, FileReady, csv.Status)
			require.Equal(t, int64(3), csv.Rows)
			require.Equal(t, []string{"csv"}, csv.Chain)
			require.Equal(t, ContentURL(csv.ID), csv.ContentURL)

			evs := env.outcomeEvents()
			require.Len(t, evs, 1)
			require.Equal(t, csv.ID+".ready", evs[0].ID)
			require.Equal(t, TypeReady, evs[0].Type)
			d := fileData(t, evs[0])
			require.Equal(t, FileData{UploadID: u.ID, FileID: csv.ID, Attempt: 1, Account: "acme", Feed: "orders",
				UploadName: "x.csv", Path: "/orders/x.csv", FileName: "x.csv", Chain: []string{"csv"}, Size: csv.Size,
				SHA256: csv.SHA256, Rows: 3, Columns: []string{"id"}, ContentURL: ContentURL(csv.ID),
				ReportURL: ReportURL(u.ID), ReceivedAt: u.ReceivedAt}, d)

			f, rc, err := env.intake.FileContent(t.Context(), csv.ID)
			require.NoError(t, err)
			content, _ := io.ReadAll(rc)
			rc.Close()
			require.Equal(t, "id\n1\n2\n3\n", string(content))
			require.Equal(t, csv.ID, f.ID)

			rep, err := env.intake.UploadReport(t.Context(), u.ID)
			require.NoError(t, err)
			require.Equal(t, StatusReady, rep.Status)
			require.Len(t, rep.Files, 1)
			require.Empty(t, rep.ErrorsFile)
			onDisk, err := os.ReadFile(filepath.Join(env.reports.dir, "acme", ReportName(u)))
			require.NoError(t, err)
			var sftpRep Report
			require.NoError(t, json.Unmarshal(onDisk, &sftpRep))
			require.Equal(t, rep, sftpRep, "the customer reads the same report")

			_, err = os.Stat(u.File)
			require.ErrorIs(t, err, fs.ErrNotExist, "the original left the customer's tree")
			kept, err := getBlob(t.Context(), env.blobs, UploadBlobKey(u.ID))
			require.NoError(t, err)
			require.Equal(t, "id\n1\n2\n3\n", string(kept), "the archive keeps it")

			require.Equal(t, 1.0, testutil.ToFloat64(env.runner.metrics.files.WithLabelValues("csv", "ok")))
			require.Equal(t, 1, testutil.CollectAndCount(env.runner.metrics.uploadToReady))

			// The feed's health, from the store.
			fc := NewFeedCollector(env.db, feedList{{Account: "acme", Name: "orders", ExpectedEvery: 24 * time.Hour},
				{Account: "acme", Name: "quiet"}}, slog.New(slog.DiscardHandler))
			want := fmt.Sprintf(`
# HELP sluice_feed_expected_interval_seconds The feed's expected_every: how often it should receive a file.
# TYPE sluice_feed_expected_interval_seconds gauge
sluice_feed_expected_interval_seconds{account="acme",feed="orders"} 86400
# HELP sluice_feed_last_success_timestamp_seconds When an upload of the feed last ended ready (unix seconds); dry runs excluded.
# TYPE sluice_feed_last_success_timestamp_seconds gauge
sluice_feed_last_success_timestamp_seconds{account="acme",feed="orders"} %s
`, strconv.FormatFloat(float64(got.FinishedAt.UnixMicro())/1e6, 'g', -1, 64))
			require.NoError(t, testutil.CollectAndCompare(fc, strings.NewReader(want)))
		})
	}
}

func TestRunnerChainAndRejections(t *testing.T) {
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), nil)
	archive := "PK\x03\x04" + "a.csv=id\n1\n\x00" + "b.csv=id\nbad\n2\nbad\n\x00" + "inner.pgp=" + fakeArmor + "id\n7\n"
	u := env.upload("acme", "/orders/batch.zip.pgp", fakeArmor+archive)
	got := env.final(u.ID)
	require.Equal(t, StatusRejected, got.Status)
	require.Contains(t, got.Error, "b.csv: 2 error(s); first at line 2, column id: not an integer")

	byName := map[string]File{}
	for _, f := range got.Files {
		if f.Leaf() {
			byName[f.Name] = f
		}
	}
	require.Len(t, byName, 3, "%+v", got.Files)
	require.Equal(t, FileReady, byName["a.csv"].Status)
	require.Equal(t, []string{"pgp", "zip", "csv"}, byName["a.csv"].Chain)
	require.Equal(t, FileRejected, byName["b.csv"].Status)
	require.Equal(t, FileReady, byName["inner"].Status)
	require.Equal(t, []string{"pgp", "zip", "pgp", "csv"}, byName["inner"].Chain)

	evs := env.outcomeEvents()
	require.Len(t, evs, 3)
	subjects := map[string]string{}
	for _, ev := range evs {
		d := fileData(t, ev)
		subjects[d.FileName] = ev.Type
		if ev.Type == TypeRejected {
			require.Equal(t, int64(2), d.ErrorsTotal)
			require.Len(t, d.Errors, 2)
			require.Empty(t, d.ContentURL)
			require.Equal(t, ReportURL(u.ID), d.ReportURL)
		}
	}
	require.Equal(t, map[string]string{"a.csv": TypeReady, "b.csv": TypeRejected, "inner": TypeReady}, subjects)

	rep, err := env.intake.UploadReport(t.Context(), u.ID)
	require.NoError(t, err)
	require.Equal(t, ErrorsName(u), rep.ErrorsFile)
	require.Equal(t, []string{"pgp", "zip", "pgp", "csv"}, rep.Chain)
	rc, err := env.intake.UploadErrors(t.Context(), u.ID)
	require.NoError(t, err)
	errs, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "line,column,value,message\n2,id,bad,not an integer\n4,id,bad,not an integer\n", string(errs))
	onDisk, err := os.ReadFile(filepath.Join(env.reports.dir, "acme", ErrorsName(u)))
	require.NoError(t, err)
	require.Equal(t, string(errs), string(onDisk))

	// The intermediate blobs (decrypted archive, extracted entries) are
	// gone; the archive, the ready CSVs and the reports stay.
	for _, f := range got.Files {
		_, err := getBlob(t.Context(), env.blobs, f.Object.Key)
		if f.Stage == "upload" || f.Status == FileReady {
			require.NoError(t, err, f.Name)
		} else {
			require.ErrorIs(t, err, fs.ErrNotExist, f.Name)
		}
	}
}

func TestRunnerRejectsAtEachStage(t *testing.T) {
	db := storetest.SQLite(t)
	cfg := testRunnerConfig()
	cfg.MaxDepth = 3
	env := startPipeline(t, db, cfg, nil)
	tests := []struct {
		name, path, content string
		want                string
	}{
		{name: "tampered message", path: "/orders/t.pgp", content: fakeArmor + "tampered", want: "integrity check failed"},
		{name: "empty archive", path: "/orders/e.zip", content: "PK\x03\x04", want: "the archive holds no files"},
		{name: "too deep", path: "/orders/d.pgp",
			content: fakeArmor + "PK\x03\x04x.pgp=" + fakeArmor + "id\n1\n", want: "nested too deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := env.upload("acme", tc.path, tc.content)
			got := env.final(u.ID)
			require.Equal(t, StatusRejected, got.Status)
			require.Contains(t, got.Error, tc.want)
			rep, err := env.intake.UploadReport(t.Context(), u.ID)
			require.NoError(t, err)
			require.Len(t, rep.Files, 1)
			require.Contains(t, rep.Files[0].Error, tc.want)
			rc, err := env.intake.UploadErrors(t.Context(), u.ID)
			require.NoError(t, err)
			errs, _ := io.ReadAll(rc)
			rc.Close()
			require.Contains(t, string(errs), tc.want, "a file rejected as a whole is a row of the errors file")
		})
	}
	env.requireNoTasks()
}

// requireNoTasks waits until the tasks stream is empty: every task was
// acknowledged or terminated, none left behind in the work queue.
func (env *pipelineEnv) requireNoTasks() {
	env.t.Helper()
	require.Eventually(env.t, func() bool {
		s, err := env.js.Stream(env.t.Context(), TasksStream)
		if err != nil {
			return false
		}
		info, err := s.Info(env.t.Context())
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 20*time.Millisecond, "tasks left in the work queue")
}

func TestRunnerRetriesTransientErrors(t *testing.T) {
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), func(s Stage) Stage {
		if s.Name() == StageCSV {
			return &flaky{Stage: s, n: 2}
		}
		return s
	})
	u := env.upload("acme", "/orders/x.csv", "id\n1\n")
	got := env.final(u.ID)
	require.Equal(t, StatusReady, got.Status)
	require.Equal(t, 3, got.Files[0].Deliveries, "two failed tries, then success")
	require.Equal(t, 2.0, testutil.ToFloat64(env.runner.metrics.files.WithLabelValues("csv", "retried")))
	require.GreaterOrEqual(t, testutil.ToFloat64(env.runner.metrics.redeliveries), 2.0)
	require.Len(t, env.outcomeEvents(), 1)
}

func TestRunnerFailsAfterMaxDeliver(t *testing.T) {
	db := storetest.SQLite(t)
	cfg := testRunnerConfig()
	cfg.MaxDeliver = 3
	env := startPipeline(t, db, cfg, func(s Stage) Stage {
		if s.Name() == StageCSV {
			return &flaky{Stage: s, n: 100}
		}
		return s
	})
	u := env.upload("acme", "/orders/x.csv", "id\n1\n")
	got := env.final(u.ID)
	require.Equal(t, StatusFailed, got.Status)
	require.Contains(t, got.Error, "internal error after 3 tries: blob store unavailable")
	require.Equal(t, FileFailed, got.Files[0].Status)
	require.Equal(t, 1.0, testutil.ToFloat64(env.runner.metrics.failed))
	require.Empty(t, env.outcomeEvents(), "a failed file is no outcome for importers")
	rep, err := env.intake.UploadReport(t.Context(), u.ID)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, rep.Status)
	env.requireNoTasks()

	// An administrator fixes the cause and retries: a new attempt, with
	// ids of its own.
	_, err = env.intake.Retry(t.Context(), u.ID)
	require.NoError(t, err)
	_, err = env.intake.Retry(t.Context(), u.ID)
	require.ErrorContains(t, err, "only rejected or failed uploads can be retried")
}

// hang blocks every try until its context ends, as a stuck dependency
// would, while the process itself stays alive.
type hang struct{ Stage }

func (hang) Process(ctx context.Context, _ Object) ([]Object, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestRunnerMaxDeliveriesAdvisory(t *testing.T) {
	// A worker that dies (here: stops) in the middle of the last delivery
	// never reports back; JetStream's advisory does, and the file fails.
	db := storetest.SQLite(t)
	cfg := testRunnerConfig()
	cfg.MaxDeliver = 1
	env := startPipeline(t, db, cfg, func(s Stage) Stage {
		if s.Name() == StageCSV {
			return hang{s}
		}
		return s
	})
	u := env.upload("acme", "/orders/x.csv", "id\n1\n")
	require.Eventually(t, func() bool {
		f, err := getFile(t.Context(), db, RootID(u.ID, 1))
		return err == nil && f.Status == FilePending
	}, 10*time.Second, 10*time.Millisecond, "the task was taken")
	env.stop() // the task is handed back (Nak) on its only delivery

	// A fresh runner on the same stream gets the advisory.
	r2, err := NewRunner(cfg, RunnerDeps{DB: db, JS: env.js, Blobs: env.blobs,
		Stages: []Stage{fakePGP{env.blobs}, fakeZIP{env.blobs}, fakeCSV{env.blobs}}, Reports: env.reports,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Node: testIntakeConfig().Node})
	require.NoError(t, err)
	env.runner = r2
	env.start()
	// The advisory fired when the Nak exhausted the deliveries, possibly
	// before r2 subscribed: publish the stop again by hand if so.
	got := env.finalOrKick(u.ID)
	require.Equal(t, StatusFailed, got.Status)
	require.Contains(t, got.Error, "internal error after 1 tries")
	env.requireNoTasks()
}

// finalOrKick is final for uploads whose advisory may have been missed: it
// re-delivers the advisory for the task still in the stream.
func (env *pipelineEnv) finalOrKick(id string) Upload {
	env.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := env.intake.Upload(env.t.Context(), id)
		require.NoError(env.t, err)
		if u.FinishedAt != nil {
			return u
		}
		require.True(env.t, time.Now().Before(deadline), "upload %s still %s", id, u.Status)
		s, err := env.js.Stream(env.t.Context(), TasksStream)
		require.NoError(env.t, err)
		info, err := s.Info(env.t.Context())
		require.NoError(env.t, err)
		if info.State.Msgs > 0 {
			adv, _ := json.Marshal(maxDeliveriesAdvisory{Stream: TasksStream, Consumer: ConsumerName(StageCSV),
				StreamSeq: info.State.FirstSeq, Deliveries: 1})
			require.NoError(env.t, env.js.Conn().Publish("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+TasksStream+"."+ConsumerName(StageCSV), adv))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRunnerRedeliveryIsIdempotent(t *testing.T) {
	// Publish every task of an upload a second time, under a message id
	// JetStream does not know: the runner must recognise it by its file id.
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), nil)
	u := env.upload("acme", "/orders/batch.zip", "PK\x03\x04a.csv=id\n1\n\x00b.csv=id\n2\n")
	got := env.final(u.ID)
	require.Equal(t, StatusReady, got.Status)
	for _, f := range got.Files {
		if f.Status != FileDone {
			continue
		}
		body, err := json.Marshal(Task{Object: f.Object, Attempt: 1})
		require.NoError(t, err)
		stage := StageZIP
		if f.Stage == StageZIP {
			stage = StageCSV
		}
		_, err = env.js.Publish(t.Context(), TaskSubject(stage), body, jetstream.WithMsgID("replay-"+f.ID))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		s, err := env.js.Stream(t.Context(), TasksStream)
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 20*time.Millisecond, "the replayed tasks were taken and acknowledged")
	again, err := env.intake.Upload(t.Context(), u.ID)
	require.NoError(t, err)
	require.Equal(t, got.Files, again.Files, "no file recorded twice")
	require.Len(t, env.outcomeEvents(), 2, "each ready event once (the same ids, dropped as duplicates)")
}

func TestRunnerRetryIsANewAttempt(t *testing.T) {
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), nil)
	u := env.upload("acme", "/orders/x.csv", "id\nbad\n")
	first := env.final(u.ID)
	require.Equal(t, StatusRejected, first.Status)

	_, err := env.intake.Retry(t.Context(), u.ID)
	require.NoError(t, err)
	second := env.final(u.ID)
	for second.Attempt != 2 || second.FinishedAt == nil {
		second = env.final(u.ID)
	}
	require.Equal(t, 2, second.Attempt)
	require.Equal(t, StatusRejected, second.Status, "the content did not change")
	require.NotEqual(t, first.Files[1].ID, second.Files[1].ID, "a new attempt has ids of its own")
	evs := env.outcomeEvents()
	require.Len(t, evs, 2)
	require.Equal(t, 2, fileData(t, evs[1]).Attempt)
	received := 0
	for _, m := range events(t, env.js) {
		if strings.HasPrefix(m.Subject, SubjectReceived) {
			received++
		}
	}
	require.Equal(t, 1, received, "no second received event")
}

func TestRunnerDryRun(t *testing.T) {
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), nil)
	u := env.upload("acme", "/_test/x.csv", "id\n1\nbad\n")
	got := env.final(u.ID)
	require.Equal(t, StatusRejected, got.Status)
	require.True(t, got.DryRun())
	require.Empty(t, events(t, env.js), "nothing announced: no received, ready or rejected event")
	rep, err := env.intake.UploadReport(t.Context(), u.ID)
	require.NoError(t, err)
	require.True(t, rep.DryRun)
	require.Equal(t, int64(1), rep.Files[0].ErrorsTotal)
	_, err = os.Stat(filepath.Join(env.reports.dir, "acme", ErrorsName(u)))
	require.NoError(t, err, "the customer gets the report all the same")
}

func TestRunnerPurge(t *testing.T) {
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), nil)
	u := env.upload("acme", "/orders/x.csv", "id\nbad\n")
	env.final(u.ID)
	stale := filepath.Join(env.blobs.Path(), u.ID, ".tmp-deadbeef-x")
	require.NoError(t, os.WriteFile(stale, []byte("half"), 0o600))

	live, err := env.blobs.Create(t.Context(), u.ID+"/live")
	require.NoError(t, err)
	_, err = live.Write([]byte("being written"))
	require.NoError(t, err)
	n, err := env.runner.Purge(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "within the archive period")
	_, err = os.Stat(stale)
	require.ErrorIs(t, err, fs.ErrNotExist, "a dead writer's temporary file is removed")
	require.NoError(t, live.Commit(), "a live writer's is not")
	_, err = os.Stat(filepath.Join(env.blobs.Path(), filepath.FromSlash(UploadBlobKey(u.ID))))
	require.NoError(t, err, "the archive is kept")

	env.runner.now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	n, err = env.runner.Purge(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = os.Stat(filepath.Join(env.blobs.Path(), u.ID))
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(filepath.Join(env.blobs.Path(), filepath.FromSlash(UploadBlobKey(u.ID))))
	require.ErrorIs(t, err, fs.ErrNotExist, "the archive goes too")
	entries, err := os.ReadDir(filepath.Join(env.reports.dir, "acme"))
	require.NoError(t, err)
	require.Empty(t, entries, "the reports go too")
	got, err := env.intake.Upload(t.Context(), u.ID)
	require.NoError(t, err)
	require.NotNil(t, got.PurgedAt)
	_, err = env.intake.Retry(t.Context(), u.ID)
	require.ErrorContains(t, err, "archive was removed")
}

func TestRunnerDeliversOnTheReceivingNode(t *testing.T) {
	// A worker on another node finishes the upload; the node that received
	// it (and holds the file) delivers the reports and archives it.
	db := storetest.SQLite(t)
	env := startPipeline(t, db, testRunnerConfig(), nil)
	env.stop()
	other, err := NewRunner(testRunnerConfig(), RunnerDeps{DB: db, JS: env.js, Blobs: env.blobs,
		Stages: []Stage{fakePGP{env.blobs}, fakeZIP{env.blobs}, fakeCSV{env.blobs}}, Reports: env.reports,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Node: "other-node"})
	require.NoError(t, err)
	receiver := env.runner
	env.runner = other
	env.start()
	u := env.upload("acme", "/orders/x.csv", "id\n1\n")
	require.Eventually(t, func() bool {
		got, err := env.intake.Upload(t.Context(), u.ID)
		return err == nil && got.FinishedAt != nil
	}, 20*time.Second, 10*time.Millisecond)
	got, err := env.intake.Upload(t.Context(), u.ID)
	require.NoError(t, err)
	require.Nil(t, got.ArchivedAt, "not the other node's file to archive")
	_, err = os.Stat(u.File)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(env.reports.dir, "acme", ReportName(u)))
	require.ErrorIs(t, err, fs.ErrNotExist)

	// Delivered once the finisher wrote the report blobs.
	require.Eventually(t, func() bool {
		n, err := receiver.deliverPending(t.Context())
		require.NoError(t, err)
		return n == 1
	}, 10*time.Second, 10*time.Millisecond)
	got, err = env.intake.Upload(t.Context(), u.ID)
	require.NoError(t, err)
	require.NotNil(t, got.ArchivedAt)
	_, err = os.Stat(u.File)
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(filepath.Join(env.reports.dir, "acme", ReportName(u)))
	require.NoError(t, err)
	n, err := receiver.deliverPending(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "delivered once")
}
