package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/store/storetest"
)

// recordOnly records uploads as a crash between the insert and the publish
// leaves them: in the outbox, unpublished.
func recordOnly(t *testing.T, in *Intake, n int) []Upload {
	t.Helper()
	out := make([]Upload, n)
	for i := range n {
		u := newUpload("acme", fmt.Sprintf("/orders/crash-%03d.csv", i), fmt.Sprint(i))
		u.ID = ulid.Make().String()
		u.Feed = "orders"
		u.Status = StatusReceived
		u.ReceivedAt = u.ReceivedAt.UTC().Truncate(time.Microsecond)
		u.UpdatedAt = u.ReceivedAt
		require.NoError(t, in.insertUpload(t.Context(), u))
		out[i] = u
	}
	return out
}

func TestSweepPublishesOldestFirst(t *testing.T) {
	for _, tdb := range databases(t) {
		t.Run(tdb.Name, func(t *testing.T) {
			_, js := startNATS(t).connect()
			db := tdb.Open(t)
			in := newTestIntake(t, db, js)
			want := recordOnly(t, in, 3*testIntakeConfig().SweepBatch+2) // crosses batch boundaries

			n, err := in.Sweep(t.Context())
			require.NoError(t, err)
			require.Equal(t, len(want), n)
			require.Empty(t, unpublished(t, db))

			msgs := events(t, js)
			require.Len(t, msgs, len(want))
			for i, m := range msgs {
				require.Equal(t, want[i].ID, m.Header.Get("Nats-Msg-Id"), "oldest first")
			}
			marks := map[time.Time]int{}
			for _, u := range want {
				got, err := in.Upload(t.Context(), u.ID)
				require.NoError(t, err)
				require.NotNil(t, got.PublishedAt)
				require.Equal(t, 1, got.PublishAttempts)
				require.Empty(t, got.LastError)
				marks[*got.PublishedAt]++
			}
			batches := (len(want) + testIntakeConfig().SweepBatch - 1) / testIntakeConfig().SweepBatch
			require.LessOrEqual(t, len(marks), batches, "one UPDATE per batch")
		})
	}
}

func TestSweepRacesPublishOnce(t *testing.T) {
	for _, tdb := range databases(t) {
		t.Run(tdb.Name, func(t *testing.T) {
			_, js := startNATS(t).connect()
			db := tdb.Open(t)
			in := newTestIntake(t, db, js)
			crashed := recordOnly(t, in, 40)

			// Sweeps race each other, the publisher (which starts with what
			// the crash left) and Receives that wake it.
			runPublisher(t, in)
			var wg sync.WaitGroup
			received := make(chan Upload, 40)
			for range 4 {
				wg.Go(func() {
					_, err := in.Sweep(t.Context())
					assert.NoError(t, err) // not require: this is not the test's goroutine
				})
			}
			for i := range 40 {
				wg.Go(func() {
					u, err := in.Receive(t.Context(), newUpload("acme", fmt.Sprintf("/orders/live-%03d.csv", i), "x"))
					assert.NoError(t, err)
					received <- u
				})
			}
			wg.Wait()
			close(received)
			waitPublished(t, db)
			n, err := in.Sweep(t.Context())
			require.NoError(t, err)
			require.Zero(t, n)

			wantIDs := map[string]bool{}
			for _, u := range crashed {
				wantIDs[u.ID] = true
			}
			for u := range received {
				wantIDs[u.ID] = true
			}
			msgs := waitEvents(t, js, 80)
			for _, m := range msgs {
				id := m.Header.Get("Nats-Msg-Id")
				require.True(t, wantIDs[id], "event %s published twice or unknown", id)
				delete(wantIDs, id)
			}
		})
	}
}

func TestSweepStopsWhenNATSIsDown(t *testing.T) {
	srv := startNATS(t)
	nc, js := srv.connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)
	recordOnly(t, in, 20)
	srv.stop()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)

	n, err := in.Sweep(t.Context())
	require.ErrorContains(t, err, fmt.Sprintf("%d publishes in a row failed", sweepGiveUp))
	require.Zero(t, n)
	items, _, err := in.Uploads(t.Context(), UploadFilter{}, pageAll)
	require.NoError(t, err)
	attempts := 0
	for _, u := range items {
		attempts += u.PublishAttempts
		if u.PublishAttempts > 0 {
			require.NotEmpty(t, u.LastError)
		}
	}
	require.Equal(t, sweepGiveUp, attempts, "the sweep gave up instead of trying every upload")
}

// TestSweepWithoutStream: acknowledgements that fail (here: no stream takes
// the subject) are recorded on every upload of the batch; once the stream
// exists, the next sweep publishes them.
func TestSweepWithoutStream(t *testing.T) {
	_, js := startNATS(t).connect()
	require.NoError(t, js.DeleteStream(t.Context(), EventsStream))
	db := storetest.SQLite(t)
	cfg := testIntakeConfig()
	cfg.PublishTimeout = 5 * time.Second // longer than the client's retries on no responders
	in, err := NewIntake(cfg, db, js, testFeeds, testBlobs(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
	require.NoError(t, err)
	want := recordOnly(t, in, cfg.SweepBatch)

	n, err := in.Sweep(t.Context())
	require.ErrorContains(t, err, "publishes in a row failed")
	require.Zero(t, n)
	for _, u := range want {
		got, err := in.Upload(t.Context(), u.ID)
		require.NoError(t, err)
		require.Nil(t, got.PublishedAt)
		require.Equal(t, 1, got.PublishAttempts, "the whole batch was sent, and failed")
		require.Contains(t, got.LastError, "publish upload "+u.ID)
	}

	_, err = js.CreateStream(t.Context(), EventStreamConfig(DefaultEventsConfig()))
	require.NoError(t, err)
	_, err = js.CreateStream(t.Context(), TaskStreamConfig(DefaultRunnerConfig()))
	require.NoError(t, err)
	n, err = in.Sweep(t.Context())
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	msgs := events(t, js)
	require.Len(t, msgs, len(want))
	for i, m := range msgs {
		require.Equal(t, want[i].ID, m.Header.Get("Nats-Msg-Id"))
	}
}

func TestSweepStopsWhenContextEnds(t *testing.T) {
	_, js := startNATS(t).connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)
	recordOnly(t, in, 5)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n, err := in.Sweep(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, n)
	require.Len(t, unpublished(t, db), 5)
}

func TestRunSweeper(t *testing.T) {
	srv := startNATS(t)
	nc, js := srv.connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)
	srv.stop()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)
	u, err := in.Receive(t.Context(), newUpload("acme", "/orders/x.csv", "x"))
	require.NoError(t, err)
	require.Nil(t, u.PublishedAt)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.RunSweeper(ctx, time.Hour) }()

	srv.restart()
	require.Eventually(t, nc.IsConnected, 10*time.Second, 5*time.Millisecond)
	in.Kick()            // as cmd does from the broker's reconnect callback
	waitPublished(t, db) // a kick sweeps without waiting for the hour or the back-off
	waitEvents(t, js, 1)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("RunSweeper did not return after cancel")
	}
}

func TestRunSweeperSweepsAtStart(t *testing.T) {
	_, js := startNATS(t).connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)
	recordOnly(t, in, 3)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.RunSweeper(ctx, time.Hour) }()
	waitPublished(t, db)
	cancel()
	require.NoError(t, <-done)
}

// TestPublisherBacksOff: while NATS is down, a stream of Receives does not
// make the publisher retry once per upload; it retries after 100 ms, then
// 200 ms, and so on.
func TestPublisherBacksOff(t *testing.T) {
	srv := startNATS(t)
	nc, js := srv.connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)
	srv.stop()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)

	started := time.Now()
	runPublisher(t, in)
	const uploads = 200
	for i := range uploads {
		_, err := in.Receive(t.Context(), newUpload("acme", fmt.Sprintf("/orders/%03d.csv", i), "x"))
		require.NoError(t, err)
	}
	var attempts int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT sum(publish_attempts) FROM uploads`).Scan(&attempts))
	elapsed := time.Since(started)
	// Each failed sweep tries sweepGiveUp publishes; without back-off there
	// would be one sweep per Receive.
	sweeps := 1 + int(elapsed/minBackoff)
	t.Logf("%d publish attempts for %d uploads in %s", attempts, uploads, elapsed)
	require.LessOrEqual(t, attempts, sweepGiveUp*sweeps)
	require.Positive(t, attempts, "failures are recorded")
	require.Len(t, unpublished(t, db), uploads)
}

func TestKickNeverBlocks(t *testing.T) {
	_, js := startNATS(t).connect()
	in := newTestIntake(t, storetest.SQLite(t), js)
	for range 10 {
		in.Kick()
		in.wakePublisher()
	}
	require.Len(t, in.kick, 1, "kicks coalesce")
	require.Len(t, in.wake, 1, "wakes coalesce")
}

// TestPublishDelay: uploads received within the publish delay after the one
// that woke the publisher go out in its sweep, marked published by one
// update; a kick does not wait for the delay.
func TestPublishDelay(t *testing.T) {
	t.Run("gathers", func(t *testing.T) {
		_, js := startNATS(t).connect()
		db := storetest.SQLite(t)
		cfg := testIntakeConfig()
		cfg.PublishDelay = time.Second
		cfg.SweepBatch = 100
		in, err := NewIntake(cfg, db, js, testFeeds, testBlobs(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
		require.NoError(t, err)
		runPublisher(t, in)
		const uploads = 5
		for i := range uploads {
			_, err := in.Receive(t.Context(), newUpload("acme", fmt.Sprintf("/orders/gather-%d.csv", i), "x"))
			require.NoError(t, err)
		}
		waitPublished(t, db)
		waitEvents(t, js, uploads)
		var updates int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(DISTINCT published_at) FROM uploads`).Scan(&updates))
		require.Equal(t, 1, updates, "one sweep published them all")
	})
	t.Run("kick does not wait", func(t *testing.T) {
		_, js := startNATS(t).connect()
		db := storetest.SQLite(t)
		cfg := testIntakeConfig()
		cfg.PublishDelay = time.Second
		in, err := NewIntake(cfg, db, js, testFeeds, testBlobs(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
		require.NoError(t, err)
		runPublisher(t, in)
		_, err = in.Receive(t.Context(), newUpload("acme", "/orders/kicked.csv", "x"))
		require.NoError(t, err)
		start := time.Now()
		in.Kick()
		waitPublished(t, db)
		require.Less(t, time.Since(start), cfg.PublishDelay)
	})
}
