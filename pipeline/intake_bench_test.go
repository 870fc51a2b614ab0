package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/store"
)

// BenchmarkReceive measures what a closing SFTP client waits for (ns/op of
// Receive) and how fast the running sweeper gets the events out (events/s:
// uploads received over the time from the first Receive until the last one
// is marked published) and how long after its Receive an upload is marked
// published on average (lag-ms), with real SQLite and an in-process
// nats-server.
// "session" receives one upload at a time, as fast as it can, as one SFTP
// session closes its files; "sessions" receives from about 16 goroutines at
// once; "paced" receives one upload a millisecond, a steady stream below the
// publisher's capacity, where lag-ms is the latency of an event (its ns/op
// is the pace).
func BenchmarkReceive(b *testing.B) {
	for _, bc := range []struct {
		name     string
		parallel bool
		pace     time.Duration
	}{
		{name: "session"},
		{name: "sessions", parallel: true},
		{name: "paced", pace: time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, js := startNATS(b).connect()
			db, err := store.Open(b.Context(), store.Config{Driver: store.SQLite, DSN: filepath.Join(b.TempDir(), "sluice.db")},
				"", slog.New(slog.DiscardHandler))
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, db.Close()) })
			cfg := DefaultIntakeConfig() // batches of 100, as in production
			in, err := NewIntake(cfg, db, js, testFeeds, testBlobs(b), slog.New(slog.DiscardHandler))
			require.NoError(b, err)
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- in.RunSweeper(ctx, time.Hour) }()
			defer func() { cancel(); require.NoError(b, <-done) }()

			var seq atomic.Int64
			receive := func() {
				i := seq.Add(1)
				_, err := in.Receive(b.Context(), newUpload("acme", fmt.Sprintf("/orders/%09d.csv", i), "id,amount\n1,2\n"))
				if err != nil {
					b.Error(err)
				}
			}
			start := time.Now()
			if bc.parallel {
				b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // about 16 goroutines
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						receive()
					}
				})
			} else if bc.pace > 0 {
				tick := time.NewTicker(bc.pace)
				for b.Loop() {
					<-tick.C
					receive()
				}
				tick.Stop()
			} else {
				for b.Loop() {
					receive()
				}
			}
			b.StopTimer()
			n := seq.Load()
			var pending int
			deadline := time.Now().Add(time.Minute)
			for {
				require.NoError(b, db.QueryRowContext(b.Context(), `SELECT count(*) FROM uploads WHERE published_at IS NULL`).Scan(&pending))
				if pending == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond) // polling with a deadline
			}
			require.Zero(b, pending, "every event published within a minute")
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			// updated_at is when Receive recorded the upload.
			var lag float64
			require.NoError(b, db.QueryRowContext(b.Context(), `SELECT avg(published_at - updated_at) FROM uploads`).Scan(&lag))
			b.ReportMetric(lag/1000, "lag-ms")
		})
	}
}
