package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/admin"
	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/csvcheck"
	"github.com/sluicehq/sluice/pipeline/decrypt"
	"github.com/sluicehq/sluice/pipeline/unzip"
	"github.com/sluicehq/sluice/sshserver"
	"github.com/sluicehq/sluice/store"
)

// app holds the components every subcommand shares.
type app struct {
	db  *store.DB
	svc *credentials.Service
}

// openApp prepares the data directory, the master key, the store and the
// credentials service.
func openApp(ctx context.Context, cfg Config, logger *slog.Logger) (*app, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data_dir %q: %w", cfg.DataDir, err)
	}
	vault, err := openVault(cfg, logger)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.Store, cfg.DataDir, logger.With("component", "store"))
	if err != nil {
		return nil, err
	}
	svc, err := credentials.NewService(cfg.Credentials, credentials.NewStore(db), vault, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &app{db: db, svc: svc}, nil
}

func (a *app) Close() error { return a.db.Close() }

func keyFilePath(cfg Config) string { return filepath.Join(cfg.DataDir, "master.key") }

// openVault loads the master key from SLUICE_MASTER_KEY or the key file in the
// data directory, creating the file on first start.
func openVault(cfg Config, logger *slog.Logger) (*credentials.Vault, error) {
	if b64 := os.Getenv("SLUICE_MASTER_KEY"); b64 != "" {
		k, err := credentials.ParseMasterKey(b64)
		if err != nil {
			return nil, fmt.Errorf("SLUICE_MASTER_KEY: %w", err)
		}
		return credentials.NewVault(k)
	}
	path := keyFilePath(cfg)
	keys, created, err := credentials.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Warn("created a new master key: back it up, secrets stored by Sluice cannot be read without it", "path", path, "key_id", keys[0].ID)
	}
	return credentials.NewVault(keys[0], keys[1:]...)
}

// serve runs every server component until ctx is cancelled, then shuts down
// in order: SFTP stops accepting and drains its sessions (uploads in flight
// still reach the intake), the admin API and the background loops stop, and
// only then NATS is drained and the store closed.
func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if os.Getenv("GOMEMLIMIT") == "" && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimitMiB << 20)
	}
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	if token := os.Getenv("SLUICE_BOOTSTRAP_TOKEN"); token != "" {
		created, err := a.svc.EnsureAPIToken(ctx, "bootstrap", token)
		if err != nil {
			return fmt.Errorf("SLUICE_BOOTSTRAP_TOKEN: %w", err)
		}
		if created {
			logger.Info("created admin api token from SLUICE_BOOTSTRAP_TOKEN", "credential", "bootstrap")
		}
	}

	nats, err := broker.Start(ctx, cfg.NATS, logger)
	if err != nil {
		return err
	}
	defer nats.Close()
	blobs, closeBlobs, err := openBlobs(ctx, cfg, nats.JetStream(), logger)
	if err != nil {
		return err
	}
	defer closeBlobs()
	intake, err := pipeline.NewIntake(cfg.Pipeline.Intake, a.db, nats.JetStream(), a.svc, blobs, logger)
	if err != nil {
		return err
	}
	nats.OnReconnect(intake.Kick)

	files, err := sshserver.NewFS(cfg.fsConfig(), uploadSink{intake}, a.svc, logger)
	if err != nil {
		return err
	}
	def, err := defender.New(cfg.Defender, logger)
	if err != nil {
		return err
	}
	sftpSrv, err := sshserver.New(cfg.SFTP, sftpAuth{a.svc}, files, def, a.svc, logger)
	if err != nil {
		return err
	}
	defer sftpSrv.Close()
	// Metrics: one registry for the process; /metrics on the admin
	// listener unless metrics.listen gives it one of its own.
	reg, err := newRegistry(cfg)
	if err != nil {
		return err
	}
	if cfg.Metrics.FeedLabels {
		if err := reg.Register(pipeline.NewFeedCollector(a.db, a.svc, logger)); err != nil {
			return err
		}
	}
	var adminMetrics http.Handler
	if cfg.Metrics.Listen == "" {
		adminMetrics = metricsHandler(reg, logger)
	}
	runner, err := newRunner(cfg, a, nats.JetStream(), blobs, sshserver.Reports{HomeDir: cfg.Credentials.HomeDir}, reg, logger)
	if err != nil {
		return err
	}
	api, err := admin.New(cfg.Admin, admin.Deps{
		Service:  a.svc,
		Uploads:  intake,
		Defender: def,
		Sessions: adminSessions{sftpSrv},
		Metrics:  adminMetrics,
	}, logger)
	if err != nil {
		return err
	}
	if err := registerMetrics(reg, nats, files, sftpSrv, def, api); err != nil {
		return err
	}

	sftpLn, err := net.Listen("tcp", cfg.SFTP.Listen)
	if err != nil {
		return fmt.Errorf("sftp.listen %q: %w", cfg.SFTP.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		sftpLn.Close()
		return fmt.Errorf("admin.listen %q: %w", cfg.Admin.Listen, err)
	}
	logger.Info("admin api listening", "addr", adminLn.Addr().String(), "data_dir", cfg.DataDir, "store", cfg.Store.Driver)
	var metricsLn net.Listener
	if cfg.Metrics.Listen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			sftpLn.Close()
			adminLn.Close()
			return fmt.Errorf("metrics.listen %q: %w", cfg.Metrics.Listen, err)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Streams are created in the background: with an external cluster
		// that is still electing a leader, SFTP keeps accepting uploads
		// meanwhile and the sweeper publishes them once the stream exists.
		// The workers start after: creating a consumer while its stream is
		// being updated races inside nats-server.
		if err := ensureStreams(gctx, cfg, nats.JetStream()); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return err
		}
		intake.Kick()
		if cfg.Pipeline.Workers == 0 {
			logger.Info("no pipeline workers in this process (pipeline.workers: 0); run sluice worker elsewhere")
			return nil
		}
		return runner.Run(gctx)
	})
	g.Go(func() error { return intake.RunSweeper(gctx, 0) })
	g.Go(func() error { return runner.RunJanitor(gctx, time.Hour) })
	g.Go(func() error { return files.RunJanitor(gctx, time.Hour) })
	g.Go(func() error { return sftpSrv.Serve(gctx, sftpLn) })
	g.Go(func() error { return api.Serve(gctx, adminLn) })
	if metricsLn != nil {
		g.Go(func() error { return serveMetrics(gctx, metricsLn, metricsHandler(reg, logger), logger) })
	}
	err = g.Wait()
	logger.Info("stopped")
	return err
}

// ensureStreams creates or updates the events and tasks streams.
func ensureStreams(ctx context.Context, cfg Config, js jetstream.JetStream) error {
	if err := broker.EnsureStream(ctx, js, pipeline.EventStreamConfig(cfg.Pipeline.Events)); err != nil {
		return err
	}
	return broker.EnsureStream(ctx, js, pipeline.TaskStreamConfig(cfg.Pipeline.RunnerConfig))
}

// openBlobs opens the blob store blob.driver names: a folder in the data
// directory, or the JetStream Object Store bucket every node shares (it
// waits for the bucket while a cluster elects its leaders).
func openBlobs(ctx context.Context, cfg Config, js jetstream.JetStream, logger *slog.Logger) (pipeline.Blobs, func() error, error) {
	if cfg.Blob.Driver == blob.DriverNATS {
		o, err := blob.OpenObjects(ctx, js, cfg.Blob.ObjectsConfig())
		if err != nil {
			return nil, nil, fmt.Errorf("blob.driver nats: %w", err)
		}
		logger.Info("blobs in the nats object store", "bucket", cfg.Blob.Bucket, "replicas", cfg.Blob.Replicas)
		return o, func() error { return nil }, nil
	}
	d, err := blob.Open(cfg.blobDir())
	if err != nil {
		return nil, nil, err
	}
	return d, d.Close, nil
}

// newRunner builds the pipeline's stages over the credentials service and
// the runner that drives them; reports go to the accounts' /reports folders.
func newRunner(cfg Config, a *app, js jetstream.JetStream, blobs pipeline.Blobs, reports pipeline.ReportWriter, reg prometheus.Registerer, logger *slog.Logger) (*pipeline.Runner, error) {
	pgp, err := decrypt.New(cfg.Pipeline.Decrypt, blobs, stageKeys{a.svc}, feedPolicy{a.svc}, logger)
	if err != nil {
		return nil, err
	}
	zip, err := unzip.New(cfg.Pipeline.Unzip, blobs, zipPasswords{a.svc}, feedPolicy{a.svc}, logger)
	if err != nil {
		return nil, err
	}
	csv, err := csvcheck.New(cfg.Pipeline.CSV, blobs, a.svc, logger)
	if err != nil {
		return nil, err
	}
	return pipeline.NewRunner(cfg.Pipeline.RunnerConfig, pipeline.RunnerDeps{
		DB:      a.db,
		JS:      js,
		Blobs:   blobs,
		Stages:  []pipeline.Stage{pgp, zip, csv},
		Reports: reports,
		Metrics: reg,
		Logger:  logger,
		Archive: cfg.Retention.Archive,
		Node:    cfg.Pipeline.Intake.Node,
	})
}

// work runs pipeline workers only, against the NATS of nats.url, until ctx
// is cancelled: `sluice worker`, for more processing power than the serve
// nodes have. It shares the store and the data directory (blobs, the
// accounts' /reports) with the serve nodes.
func work(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if cfg.Pipeline.Workers == 0 {
		return errors.New("pipeline.workers: must be at least 1 for sluice worker")
	}
	if cfg.NATS.URL == "" {
		return errors.New("sluice worker needs nats.url (SLUICE_NATS_URL): the NATS that the serve nodes use; the embedded server is private to one serve process")
	}
	if os.Getenv("GOMEMLIMIT") == "" && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimitMiB << 20)
	}
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	nats, err := broker.Start(ctx, cfg.NATS, logger)
	if err != nil {
		return err
	}
	defer nats.Close()
	blobs, closeBlobs, err := openBlobs(ctx, cfg, nats.JetStream(), logger)
	if err != nil {
		return err
	}
	defer closeBlobs()
	reg, err := newRegistry(cfg)
	if err != nil {
		return err
	}
	if err := registerMetrics(reg, nats); err != nil {
		return err
	}
	reports := sshserver.Reports{HomeDir: cfg.Credentials.HomeDir}
	runner, err := newRunner(cfg, a, nats.JetStream(), blobs, reports, reg, logger)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen %q: %w", cfg.Metrics.Listen, err)
		}
		logger.Info("metrics listening", "addr", ln.Addr().String())
		g.Go(func() error { return serveMetrics(gctx, ln, metricsHandler(reg, logger), logger) })
	} else {
		logger.Warn("metrics.listen is empty: a worker has no admin listener, so its metrics are not served; set metrics.listen")
	}
	g.Go(func() error {
		// The consumers after the streams: creating one while its stream
		// is being updated races inside nats-server.
		if err := ensureStreams(gctx, cfg, nats.JetStream()); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return err
		}
		return runner.Run(gctx)
	})
	err = g.Wait()
	logger.Info("stopped")
	return err
}

// createToken creates an admin API token offline and prints it once.
func createToken(ctx context.Context, cfg Config, logger *slog.Logger, name, desc string, out io.Writer) error {
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	token, c, err := a.svc.CreateAPIToken(ctx, name, desc)
	if err != nil {
		return err
	}
	logger.Info("created admin api token", "credential", c.Name, "fingerprint", c.Fingerprint)
	_, err = fmt.Fprintln(out, string(token))
	return err
}

// rotateMasterKey re-encrypts every sealed secret under a new master key.
func rotateMasterKey(ctx context.Context, cfg Config, logger *slog.Logger, out io.Writer) error {
	a, err := openApp(ctx, cfg, logger) // proves the current key opens the store
	if err != nil {
		return err
	}
	defer a.Close()

	if cur := os.Getenv("SLUICE_MASTER_KEY"); cur != "" {
		next := os.Getenv("SLUICE_MASTER_KEY_NEW")
		if next == "" {
			return errors.New("SLUICE_MASTER_KEY is set: put the new key (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) in SLUICE_MASTER_KEY_NEW and run again")
		}
		old, err := credentials.ParseMasterKey(cur)
		if err != nil {
			return fmt.Errorf("SLUICE_MASTER_KEY: %w", err)
		}
		nk, err := credentials.ParseMasterKey(next)
		if err != nil {
			return fmt.Errorf("SLUICE_MASTER_KEY_NEW: %w", err)
		}
		n, err := reseal(ctx, a, cfg, logger, nk, old)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "re-encrypted %d secrets under key %s; now set SLUICE_MASTER_KEY to the value of SLUICE_MASTER_KEY_NEW\n", n, nk.ID)
		return nil
	}

	path := keyFilePath(cfg)
	keys, err := credentials.LoadKeyFile(path)
	if err != nil {
		return err
	}
	nk, err := credentials.GenerateMasterKey()
	if err != nil {
		return err
	}
	// Write the new key first, keeping the old ones: a crash from here on
	// leaves a file that opens every secret, whichever key sealed it.
	if err := credentials.WriteKeyFile(path, append([]credentials.MasterKey{nk}, keys...)); err != nil {
		return err
	}
	n, err := reseal(ctx, a, cfg, logger, nk, keys...)
	if err != nil {
		return err
	}
	if err := credentials.WriteKeyFile(path, []credentials.MasterKey{nk}); err != nil {
		return err
	}
	fmt.Fprintf(out, "re-encrypted %d secrets under new key %s; old keys removed from %s\n", n, nk.ID, path)
	return nil
}

func reseal(ctx context.Context, a *app, cfg Config, logger *slog.Logger, primary credentials.MasterKey, older ...credentials.MasterKey) (int, error) {
	vault, err := credentials.NewVault(primary, older...)
	if err != nil {
		return 0, err
	}
	svc, err := credentials.NewService(cfg.Credentials, credentials.NewStore(a.db), vault, logger)
	if err != nil {
		return 0, err
	}
	n, err := svc.Reseal(ctx)
	if err != nil {
		return 0, fmt.Errorf("re-encrypt secrets: %w", err)
	}
	logger.Info("master key rotated", "key_id", primary.ID, "secrets", n)
	return n, nil
}
