package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/store"
)

// rootFeed routes every upload to the account's feed "default".
type rootFeed struct{}

func (rootFeed) FeedFor(_ context.Context, account, _ string) (credentials.Feed, bool, error) {
	return credentials.Feed{Account: account, Name: "default", Path: "/"}, true, nil
}

// Example wires the intake as cmd/sluice does: the embedded NATS server, the
// events stream, the store, the outbox sweeper kicked on every reconnect.
func Example() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dataDir, err := os.MkdirTemp("", "sluice-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dataDir)

	ncfg := broker.DefaultConfig()
	ncfg.StoreDir = filepath.Join(dataDir, "nats")
	b, err := broker.Start(ctx, ncfg, logger)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	ecfg := pipeline.DefaultEventsConfig()
	ecfg.Replicas = ncfg.Replicas
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := broker.EnsureStream(sctx, b.JetStream(), pipeline.EventStreamConfig(ecfg)); err != nil {
		fmt.Println(err)
		return
	}
	if err := broker.EnsureStream(sctx, b.JetStream(), pipeline.TaskStreamConfig(pipeline.DefaultRunnerConfig())); err != nil {
		fmt.Println(err)
		return
	}
	blobs, err := blob.Open(filepath.Join(dataDir, "blobs"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer blobs.Close()

	db, err := store.Open(ctx, store.Config{Driver: store.SQLite}, dataDir, logger)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	in, err := pipeline.NewIntake(pipeline.DefaultIntakeConfig(), db, b.JetStream(), rootFeed{}, blobs, logger)
	if err != nil {
		fmt.Println(err)
		return
	}
	b.OnReconnect(in.Kick)
	sweepCtx, stopSweeper := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.RunSweeper(sweepCtx, 0) }()
	defer func() { stopSweeper(); <-done }()

	// sshserver closed this file: the received upload in the account's tree.
	file := filepath.Join(dataDir, "home", "acme", "orders", "2026-03.csv")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		fmt.Println(err)
		return
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		fmt.Println(err)
		return
	}
	u, err := in.Receive(ctx, pipeline.Upload{
		Account: "acme",
		Path:    "/orders/2026-03.csv",
		File:    file,
		Size:    0,
		SHA256:  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Status, u.Feed, u.Name(), u.PublishedAt != nil)

	// Receive returned once the upload was recorded; the publisher, woken by
	// it, announces it a moment later.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if u, err = in.Upload(ctx, u.ID); err != nil || u.PublishedAt != nil {
			break
		}
	}
	fmt.Println(u.PublishedAt != nil, err)
	// Output:
	// received default 2026-03.csv false
	// true <nil>
}
