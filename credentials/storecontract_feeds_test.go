package credentials

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newFeed(account, name, path string) Feed {
	return Feed{
		Account: account, Name: name, Path: path, OnError: "skip_rows", MaxErrorRate: 0.25,
		RequireEncryption: true, RequireSignature: true, AllowZipCrypto: true,
		Schema: Schema{
			Delimiter: ";", Encoding: "windows-1252", AllowExtraColumns: true,
			Columns: []Column{
				{Name: "id", Type: "integer", Required: true, Unique: true},
				{Name: "day", Type: "date", Format: "2006-01-02"},
				{Name: "tier", Type: "enum", Values: []string{"gold", "silver"}},
				{Name: "code", Type: "regex", Pattern: `^[A-Z]{3}$`, MaxLen: 3},
			},
		},
		CreatedAt: stored(t0), UpdatedAt: stored(t0),
	}
}

func testFeedRoundTrip(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme", "empty")

	in := newFeed("acme", "orders", "/orders")
	in.CreatedAt, in.UpdatedAt = t0, t0 // stored truncated, in UTC
	created, err := s.PutFeed(ctx, in)
	require.NoError(t, err)
	require.True(t, created)
	want := newFeed("acme", "orders", "/orders")
	got, err := s.Feed(ctx, "acme", "orders")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Replace: everything but CreatedAt is written.
	upd := Feed{Account: "acme", Name: "orders", Path: "/orders/v2", OnError: "reject_file",
		Schema:    Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []Column{{Name: "x", Type: "string"}}},
		CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(2 * time.Hour)}
	created, err = s.PutFeed(ctx, upd)
	require.NoError(t, err)
	require.False(t, created)
	want = upd
	want.CreatedAt, want.UpdatedAt = stored(t0), stored(upd.UpdatedAt)
	got, err = s.Feed(ctx, "acme", "orders")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Its old path is free again; a feed may move onto it.
	_, err = s.PutFeed(ctx, newFeed("acme", "root", "/orders"))
	require.NoError(t, err)
	_, err = s.PutFeed(ctx, newFeed("acme", "default", "/"))
	require.NoError(t, err)

	feeds, err := s.Feeds(ctx, "acme")
	require.NoError(t, err)
	names := make([]string, len(feeds))
	for i, f := range feeds {
		names[i] = f.Name
	}
	require.Equal(t, []string{"default", "orders", "root"}, names)

	feeds, err = s.Feeds(ctx, "empty")
	require.NoError(t, err)
	require.NotNil(t, feeds)
	require.Empty(t, feeds)

	all, err := s.AllFeeds(ctx)
	require.NoError(t, err)
	var keys []string
	for _, f := range all {
		keys = append(keys, f.Account+"/"+f.Name)
	}
	require.Subset(t, keys, []string{"acme/default", "acme/orders", "acme/root"})

	require.NoError(t, s.DeleteFeed(ctx, "acme", "root"))
	_, err = s.Feed(ctx, "acme", "root")
	requireNotFound(t, err, `feed "root" of account "acme"`)
}

func testFeedErrors(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme", "other")
	_, err := s.PutFeed(ctx, newFeed("acme", "orders", "/orders"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		feed     Feed
		notFound string
		conflict string
	}{
		{name: "missing account", feed: newFeed("nobody", "orders", "/orders"), notFound: `account "nobody"`},
		{name: "new feed on a used path", feed: newFeed("acme", "dup", "/orders"),
			conflict: `feed "orders" already uses path "/orders"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutFeed(ctx, tc.feed)
			if tc.notFound != "" {
				requireNotFound(t, err, tc.notFound)
				return
			}
			requireConflict(t, err, tc.conflict)
			_, err = s.Feed(ctx, tc.feed.Account, tc.feed.Name)
			require.ErrorIs(t, err, ErrNotFound, "nothing stored")
		})
	}

	t.Run("existing feed moved onto a used path", func(t *testing.T) {
		_, err := s.PutFeed(ctx, newFeed("acme", "invoices", "/invoices"))
		require.NoError(t, err)
		_, err = s.PutFeed(ctx, newFeed("acme", "invoices", "/orders"))
		requireConflict(t, err, `feed "orders" already uses path "/orders"`)
		f, err := s.Feed(ctx, "acme", "invoices")
		require.NoError(t, err)
		require.Equal(t, "/invoices", f.Path, "unchanged")
	})

	t.Run("same path in another account", func(t *testing.T) {
		created, err := s.PutFeed(ctx, newFeed("other", "orders", "/orders"))
		require.NoError(t, err)
		require.True(t, created)
	})

	t.Run("not found", func(t *testing.T) {
		_, err := s.Feed(ctx, "acme", "nope")
		requireNotFound(t, err, `feed "nope" of account "acme"`)
		_, err = s.Feeds(ctx, "nobody")
		requireNotFound(t, err, `account "nobody"`)
		requireNotFound(t, s.DeleteFeed(ctx, "acme", "nope"), `feed "nope" of account "acme"`)
		requireNotFound(t, s.DeleteFeed(ctx, "nobody", "orders"), `feed "orders" of account "nobody"`)
	})
}

func testFeedConcurrentPut(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	const n = 10
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			created[i], errs[i] = s.PutFeed(ctx, newFeed("acme", "orders", "/orders"))
		})
	}
	wg.Wait()
	var creates int
	for i := range n {
		require.NoError(t, errs[i])
		if created[i] {
			creates++
		}
	}
	require.Equal(t, 1, creates)
}

// testFeedExpectedEvery stores, replaces and clears a feed's ExpectedEvery,
// kept in its own column in microseconds (NULL for none) so that a query can
// compare it with upload times.
func testFeedExpectedEvery(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	column := func(name string) *int64 {
		t.Helper()
		var v *int64
		require.NoError(t, s.db.QueryRowContext(ctx,
			`SELECT expected_every FROM feeds WHERE account = $1 AND name = $2`, "acme", name).Scan(&v))
		return v
	}

	for _, tc := range []struct {
		name  string
		every time.Duration
		want  *int64
	}{
		{"none", 0, nil},
		{"a day", 24 * time.Hour, ptr(int64(24 * time.Hour / time.Microsecond))},
		{"replaced", 90 * time.Minute, ptr(int64(90 * time.Minute / time.Microsecond))},
		{"the longest", 90 * 24 * time.Hour, ptr(int64(90 * 24 * time.Hour / time.Microsecond))},
		{"cleared", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed("acme", "orders", "/orders")
			f.ExpectedEvery = tc.every
			_, err := s.PutFeed(ctx, f)
			require.NoError(t, err)
			got, err := s.Feed(ctx, "acme", "orders")
			require.NoError(t, err)
			require.Equal(t, tc.every, got.ExpectedEvery)
			require.Equal(t, tc.want, column("orders"))

			feeds, err := s.Feeds(ctx, "acme")
			require.NoError(t, err)
			require.Len(t, feeds, 1)
			require.Equal(t, tc.every, feeds[0].ExpectedEvery)
		})
	}

	// Other feeds keep their own.
	other := newFeed("acme", "invoices", "/invoices")
	other.ExpectedEvery = time.Hour
	_, err := s.PutFeed(ctx, other)
	require.NoError(t, err)
	got, err := s.Feed(ctx, "acme", "invoices")
	require.NoError(t, err)
	require.Equal(t, time.Hour, got.ExpectedEvery)
	got, err = s.Feed(ctx, "acme", "orders")
	require.NoError(t, err)
	require.Zero(t, got.ExpectedEvery)
}
