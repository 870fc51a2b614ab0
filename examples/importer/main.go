// Command importer is an example of a downstream importer of Sluice: it
// consumes the ready events (sluice.ready.>) of the SLUICE_EVENTS stream
// through a durable JetStream pull consumer, fetches each accepted CSV from
// the admin API's content_url and writes it to a folder, acknowledging an
// event only once its file is on disk and fsynced. A failed download is
// retried later (the event is nak'ed with a delay); an event that cannot be
// understood is terminated.
//
//	importer -nats nats://127.0.0.1:4222 -api http://127.0.0.1:8080 \
//	    -token "$SLUICE_TOKEN" -out ./incoming -durable my-importer
//
// Each file lands as <out>/<file id>.csv with the event next to it as
// <out>/<file id>.json. File ids are deterministic, so a redelivered event
// rewrites the same file: the importer is idempotent. Run `sluice serve` with
// nats.listen set so that the embedded NATS server accepts importers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.Stderr, logger); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			logger.Error("importer stopped", "err", err)
		}
		os.Exit(1)
	}
}

// run parses args, connects to NATS and imports until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	cfg := DefaultConfig()
	natsURL := nats.DefaultURL
	fs := flag.NewFlagSet("importer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&natsURL, "nats", natsURL, "NATS server URL(s), comma-separated")
	fs.StringVar(&cfg.API, "api", "http://127.0.0.1:8080", "base URL of Sluice's admin API")
	fs.StringVar(&cfg.Token, "token", os.Getenv("SLUICE_TOKEN"), "admin API bearer token (default: $SLUICE_TOKEN)")
	fs.StringVar(&cfg.OutDir, "out", "", "folder the files are written to")
	fs.StringVar(&cfg.Durable, "durable", "example-importer", "name of the durable consumer: importers sharing it share the work")
	fs.StringVar(&cfg.Subject, "subject", cfg.Subject, "events to import, e.g. sluice.ready.acme.> for one account")
	fs.DurationVar(&cfg.RetryDelay, "retry", cfg.RetryDelay, "delay before a failed download is retried (grows with each attempt)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	nc, err := nats.Connect(natsURL, nats.Name("sluice-example-importer"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// No overall timeout: files may be large. A server that does not
	// answer at all is given up on, and the download retried later.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = time.Minute
	imp, err := New(ctx, cfg, js, &http.Client{Transport: transport}, logger)
	if err != nil {
		return err
	}
	return imp.Run(ctx)
}
