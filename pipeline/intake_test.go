package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store/storetest"
)

func TestReceivePublishes(t *testing.T) {
	for _, tdb := range databases(t) {
		t.Run(tdb.Name, func(t *testing.T) {
			_, js := startNATS(t).connect()
			db := tdb.Open(t)
			in := newTestIntake(t, db, js)
			runPublisher(t, in)

			tests := []struct {
				name    string
				account string
				path    string
				feed    string
			}{
				{name: "feed folder", account: "acme", path: "/orders/2026/x.csv", feed: "orders"},
				{name: "longest prefix", account: "acme", path: "/orders/eu/y.csv", feed: "eu-orders"},
				{name: "no feed", account: "acme", path: "/misc/z.csv", feed: ""},
				{name: "root feed", account: "globex", path: "/a.csv.gpg", feed: "all"},
			}
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					in0 := newUpload(tc.account, tc.path, "id,amount\n1,2\n")
					u, err := in.Receive(t.Context(), in0)
					require.NoError(t, err)

					_, err = ulid.ParseStrict(u.ID)
					require.NoError(t, err, "the id is a ULID")
					require.Equal(t, tc.feed, u.Feed)
					require.Equal(t, StatusReceived, u.Status)
					require.Equal(t, in0.ReceivedAt.UTC().Truncate(time.Microsecond), u.ReceivedAt)
					require.Nil(t, u.PublishedAt, "Receive does not wait for the publish")
					require.Zero(t, u.PublishAttempts)
					require.Empty(t, u.LastError)

					// The publisher, woken by Receive (its interval is an
					// hour), publishes the event and marks the row.
					msgs := waitEvents(t, js, i+1)
					stored := waitUpload(t, in, u.ID, func(u Upload) bool { return u.PublishedAt != nil })
					want := u
					want.PublishedAt, want.PublishAttempts = stored.PublishedAt, 1
					require.Equal(t, want, stored, "Receive returns the upload as recorded")
					m := msgs[i]
					require.Equal(t, "sluice.received."+tc.account, m.Subject)
					require.Equal(t, u.ID, m.Header.Get("Nats-Msg-Id"))
					require.Equal(t, ContentTypeCloudEvents, m.Header.Get("Content-Type"))

					var ev map[string]any
					require.NoError(t, json.Unmarshal(m.Data, &ev))
					require.Equal(t, map[string]any{
						"specversion":     "1.0",
						"id":              u.ID + ".received",
						"source":          "/sluice/test-node",
						"type":            "dev.sluice.file.received",
						"subject":         tc.path,
						"time":            "2026-03-04T04:06:07.891234Z",
						"datacontenttype": "application/json",
						"data": map[string]any{
							"upload_id":   u.ID,
							"account":     tc.account,
							"feed":        tc.feed,
							"upload_name": u.Name(),
							"path":        tc.path,
							"size":        float64(in0.Size),
							"sha256":      in0.SHA256,
							"received_at": "2026-03-04T04:06:07.891234Z",
							"remote":      "192.0.2.7:50022",
						},
					}, ev)
				})
			}
			require.Empty(t, unpublished(t, db))
		})
	}
}

func TestReceiveDefaultsTime(t *testing.T) {
	_, js := startNATS(t).connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)
	up := newUpload("acme", "/x.csv", "a")
	up.ReceivedAt = time.Time{}
	before := time.Now()
	u, err := in.Receive(t.Context(), up)
	require.NoError(t, err)
	require.WithinRange(t, u.ReceivedAt, before.Add(-time.Millisecond), time.Now())
	require.Equal(t, time.UTC, u.ReceivedAt.Location())
}

func TestReceiveRefuses(t *testing.T) {
	_, js := startNATS(t).connect()
	db := storetest.SQLite(t)
	in := newTestIntake(t, db, js)

	tests := []struct {
		name   string
		change func(*Upload)
		feeds  FeedLookup
		want   string
	}{
		{name: "no account", change: func(u *Upload) { u.Account = "" }, want: "account"},
		{name: "subject wildcard in account", change: func(u *Upload) { u.Account = "a.>" }, want: "account"},
		{name: "relative path", change: func(u *Upload) { u.Path = "x.csv" }, want: "path"},
		{name: "unclean path", change: func(u *Upload) { u.Path = "/a/../x.csv" }, want: "path"},
		{name: "root", change: func(u *Upload) { u.Path = "/" }, want: "path"},
		{name: "no file", change: func(u *Upload) { u.File = "" }, want: "local file"},
		{name: "negative size", change: func(u *Upload) { u.Size = -1 }, want: "size"},
		{name: "short sha256", change: func(u *Upload) { u.SHA256 = "abc" }, want: "sha256"},
		{name: "upper-case sha256", change: func(u *Upload) { u.SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855" }, want: "sha256"},
		{name: "feed lookup fails", change: func(*Upload) {}, feeds: feedTable{err: errors.New("database is locked")}, want: "database is locked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpload("acme", "/orders/x.csv", "x")
			tc.change(&u)
			in := in
			if tc.feeds != nil {
				var err error
				in, err = NewIntake(testIntakeConfig(), db, js, tc.feeds, testBlobs(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
				require.NoError(t, err)
			}
			_, err := in.Receive(t.Context(), u)
			require.ErrorContains(t, err, tc.want)
		})
	}
	items, _, err := in.Uploads(t.Context(), UploadFilter{}, pageAll)
	require.NoError(t, err)
	require.Empty(t, items, "nothing recorded")
	require.Empty(t, events(t, js), "nothing published")
}

func TestReceiveWhileNATSDown(t *testing.T) {
	for _, tdb := range databases(t) {
		t.Run(tdb.Name, func(t *testing.T) {
			srv := startNATS(t)
			nc, js := srv.connect()
			db := tdb.Open(t)
			in := newTestIntake(t, db, js)
			runPublisher(t, in)

			first, err := in.Receive(t.Context(), newUpload("acme", "/orders/1.csv", "1"))
			require.NoError(t, err)
			waitEvents(t, js, 1)
			waitPublished(t, db)

			srv.stop()
			require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)
			down, err := in.Receive(t.Context(), newUpload("acme", "/orders/2.csv", "2"))
			require.NoError(t, err, "a recorded upload is a received upload, NATS or not")
			require.Nil(t, down.PublishedAt)
			failed := waitUpload(t, in, down.ID, func(u Upload) bool { return u.PublishAttempts > 0 })
			require.Nil(t, failed.PublishedAt, "the failure is recorded, the event stays in the outbox")
			require.NotEmpty(t, failed.LastError)
			require.Equal(t, []string{down.ID}, unpublished(t, db))

			n, err := in.Sweep(t.Context())
			require.Error(t, err, "a sweep while NATS is down stops")
			require.Zero(t, n)

			srv.restart() // same port, same store directory
			require.Eventually(t, nc.IsConnected, 10*time.Second, 5*time.Millisecond)
			in.Kick() // as cmd does from the broker's reconnect callback
			msgs := waitEvents(t, js, 2)
			waitPublished(t, db)
			n, err = in.Sweep(t.Context())
			require.NoError(t, err)
			require.Zero(t, n, "nothing left to sweep")

			require.Equal(t, first.ID, msgs[0].Header.Get("Nats-Msg-Id"), "the first event survived the restart")
			require.Equal(t, down.ID, msgs[1].Header.Get("Nats-Msg-Id"), "the second was published exactly once")
			var ev Event
			require.NoError(t, json.Unmarshal(msgs[1].Data, &ev))
			want, err := ReceivedEvent(down, "/sluice/test-node")
			require.NoError(t, err)
			require.Equal(t, want, ev, "the event published late is the event published at once")

			swept, err := in.Upload(t.Context(), down.ID)
			require.NoError(t, err)
			require.NotNil(t, swept.PublishedAt)
			require.GreaterOrEqual(t, swept.PublishAttempts, 3, "the publisher's failures, the sweep while down, the publish")
			require.Empty(t, swept.LastError)
		})
	}
}

// TestReceiveDoesNotWaitForNATS: whatever NATS does, Receive returns once
// the row is recorded. With a client that buffers while disconnected, a
// synchronous publish would wait for the whole publish timeout.
func TestReceiveDoesNotWaitForNATS(t *testing.T) {
	tests := []struct {
		name string
		opts []nats.Option
	}{
		{name: "client buffers while disconnected", opts: []nats.Option{nats.ReconnectBufSize(8 << 20)}},
		{name: "client fails publishes while disconnected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startNATS(t)
			nc, js := srv.connect(tc.opts...)
			db := storetest.SQLite(t)
			cfg := testIntakeConfig()
			cfg.PublishTimeout = 5 * time.Second
			in, err := NewIntake(cfg, db, js, testFeeds, testBlobs(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
			require.NoError(t, err)
			runPublisher(t, in)

			srv.stop()
			require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)
			var ids []string
			for i := range 3 {
				started := time.Now()
				u, err := in.Receive(t.Context(), newUpload("acme", fmt.Sprintf("/orders/%d.csv", i), "x"))
				require.NoError(t, err)
				require.Less(t, time.Since(started), cfg.PublishTimeout/5, "Receive returns without waiting for NATS")
				require.Nil(t, u.PublishedAt)
				ids = append(ids, u.ID)
			}
			require.Equal(t, ids, unpublished(t, db), "recorded, in the outbox")

			srv.restart()
			require.Eventually(t, nc.IsConnected, 10*time.Second, 5*time.Millisecond)
			in.Kick()
			waitPublished(t, db)
			msgs := waitEvents(t, js, len(ids))
			for i, m := range msgs {
				require.Equal(t, ids[i], m.Header.Get("Nats-Msg-Id"), "each event once, buffered copies dropped")
			}
		})
	}
}

func TestConcurrentReceives(t *testing.T) {
	const uploads = 1000
	for _, tdb := range databases(t) {
		t.Run(tdb.Name, func(t *testing.T) {
			_, js := startNATS(t).connect()
			db := tdb.Open(t)
			in := newTestIntake(t, db, js)
			runPublisher(t, in)

			ids := make([]string, uploads)
			var wg sync.WaitGroup
			errs := make(chan error, uploads)
			for i := range uploads {
				wg.Go(func() {
					u, err := in.Receive(t.Context(), newUpload("acme", fmt.Sprintf("/orders/%04d.csv", i), strconv.Itoa(i)))
					if err != nil {
						errs <- err
						return
					}
					ids[i] = u.ID
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}

			items, next, err := in.Uploads(t.Context(), UploadFilter{Account: "acme"}, credentials.Page{Limit: 1000})
			require.NoError(t, err)
			require.Len(t, items, uploads)
			require.Empty(t, next)

			msgs := waitEvents(t, js, uploads)
			waitPublished(t, db)
			seen := map[string]bool{}
			for _, m := range msgs {
				id := m.Header.Get("Nats-Msg-Id")
				require.False(t, seen[id], "event of %s published twice", id)
				seen[id] = true
			}
			for _, id := range ids {
				require.True(t, seen[id], "no event for upload %s", id)
			}

			n, err := in.Sweep(t.Context())
			require.NoError(t, err)
			require.Zero(t, n)

			// Every batch is marked with one UPDATE and one time: while a
			// batch was in flight, the next accumulated.
			var updates int
			require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(DISTINCT published_at) FROM uploads`).Scan(&updates))
			t.Logf("%d uploads published in %d batches", uploads, updates)
			require.Less(t, updates, uploads, "the publisher batches")
		})
	}
}

// pageAll is a page large enough for every test.
var pageAll = credentials.Page{Limit: 1000}

func TestIntakeConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*IntakeConfig)
		want   string
	}{
		{name: "default", change: func(*IntakeConfig) {}},
		{name: "no node", change: func(c *IntakeConfig) { c.Node = "" }, want: "pipeline.intake.node:"},
		{name: "slash in node", change: func(c *IntakeConfig) { c.Node = "a/b" }, want: "pipeline.intake.node:"},
		{name: "publish timeout", change: func(c *IntakeConfig) { c.PublishTimeout = 0 }, want: "pipeline.intake.publish_timeout:"},
		{name: "sweep interval", change: func(c *IntakeConfig) { c.SweepInterval = -time.Second }, want: "pipeline.intake.sweep_interval:"},
		{name: "sweep batch", change: func(c *IntakeConfig) { c.SweepBatch = 0 }, want: "pipeline.intake.sweep_batch:"},
		{name: "sweep batch too large", change: func(c *IntakeConfig) { c.SweepBatch = 1001 }, want: "pipeline.intake.sweep_batch:"},
		{name: "no publish delay", change: func(c *IntakeConfig) { c.PublishDelay = 0 }},
		{name: "negative publish delay", change: func(c *IntakeConfig) { c.PublishDelay = -time.Millisecond }, want: "pipeline.intake.publish_delay:"},
		{name: "publish delay too long", change: func(c *IntakeConfig) { c.PublishDelay = 2 * time.Second }, want: "pipeline.intake.publish_delay:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultIntakeConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestReceiveKeepsContent: the content is linked to UploadBlobKey, in the
// one folder of every upload's content: no folder per upload.
func TestReceiveKeepsContent(t *testing.T) {
	_, js := startNATS(t).connect()
	blobs := testBlobs(t)
	in := newTestIntakeBlobs(t, storetest.SQLite(t), js, blobs)
	var ids []string
	for i := range 3 {
		u, err := in.Receive(t.Context(), newUpload("acme", fmt.Sprintf("/orders/keep-%d.csv", i), "id\n1\n"))
		require.NoError(t, err)
		require.Equal(t, "uploads/"+u.ID, UploadBlobKey(u.ID))
		same, err := blobs.SameFile(t.Context(), UploadBlobKey(u.ID), u.File)
		require.NoError(t, err)
		require.True(t, same, "the blob is the received file")
		ids = append(ids, u.ID)
	}
	entries, err := os.ReadDir(blobs.Path())
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the uploads folder")
	require.Equal(t, "uploads", entries[0].Name())
	entries, err = os.ReadDir(filepath.Join(blobs.Path(), "uploads"))
	require.NoError(t, err)
	require.Len(t, entries, len(ids))
}
