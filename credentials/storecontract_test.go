package credentials

import (
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
)

// runStoreContract runs every Store behaviour the Service relies on against
// a Store from open, which must return an empty, migrated store for each
// call (each subtest calls it once).
func runStoreContract(t *testing.T, open func(t *testing.T) *Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"Ping", testStorePing},
		{"AccountRoundTrip", testAccountRoundTrip},
		{"AccountErrors", testAccountErrors},
		{"AccountUpdate", testAccountUpdate},
		{"AccountsPaging", testAccountsPaging},
		{"AccountDeleteCascades", testAccountDeleteCascades},
		{"CredentialRoundTrip", testCredentialRoundTrip},
		{"CredentialCreateErrors", testCredentialCreateErrors},
		{"CredentialConcurrentCreate", testCredentialConcurrentCreate},
		{"CredentialsPaging", testCredentialsPaging},
		{"CredentialsByType", testCredentialsByType},
		{"CredentialLookups", testCredentialLookups},
		{"CredentialUpdate", testCredentialUpdate},
		{"CredentialTouchAndDelete", testCredentialTouchAndDelete},
		{"ResealCredentials", testResealCredentials},
		{"ResealCredentialsRollback", testResealCredentialsRollback},
		{"FeedRoundTrip", testFeedRoundTrip},
		{"FeedErrors", testFeedErrors},
		{"FeedConcurrentPut", testFeedConcurrentPut},
		{"FeedExpectedEvery", testFeedExpectedEvery},
		{"AuditAppend", testAuditAppend},
		{"AuditFilterAndPaging", testAuditFilterAndPaging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// t0 has nanoseconds and a zone, so round trips show truncation to
// microseconds and conversion to UTC.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))

// stored is what the store returns for t.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

func newAccount(name string) Account {
	return Account{Name: name, AllowedCIDRs: []string{}, CreatedAt: stored(t0), UpdatedAt: stored(t0)}
}

// newCredential returns a credential of type typ with a fresh id; the
// fingerprint and token hash are derived from the name so they are distinct.
func newCredential(account, name string, typ Type) Credential {
	c := Credential{
		ID: ulid.Make().String(), Account: account, Name: name, Type: typ,
		CreatedAt: stored(t0), UpdatedAt: stored(t0),
	}
	switch typ {
	case TypeSSHPublicKey:
		c.Fingerprint = "SHA256:" + account + "/" + name
		c.PublicData = "ssh-ed25519 AAAA " + name
	case TypeAPIToken:
		c.SecretHash = "hash-of-" + name
		c.Fingerprint = "tok_" + name
	case TypePassword:
		c.SecretHash = "$argon2id$v=19$m=65536,t=1,p=4$" + name
	default:
		c.Sealed = []byte("sealed " + name)
		c.KeyID = "k1"
	}
	return c
}

func createAccounts(t *testing.T, s *Store, names ...string) {
	t.Helper()
	for _, name := range names {
		require.NoError(t, s.CreateAccount(t.Context(), newAccount(name)))
	}
}

// requireConflict asserts that err is an ErrConflict with exactly msg.
func requireConflict(t *testing.T, err error, msg string) {
	t.Helper()
	require.ErrorIs(t, err, ErrConflict)
	require.EqualError(t, err, "conflict: "+msg)
}

// requireNotFound asserts that err is an ErrNotFound whose message has msg.
func requireNotFound(t *testing.T, err error, msg string) {
	t.Helper()
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, msg)
}

func requireInvalidCursor(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "cursor", ve.Field)
	require.Equal(t, "invalid cursor", ve.Reason)
}

// collect pages through a list with limit, returning every page's keys.
func collect(t *testing.T, limit int, list func(p Page) ([]string, string, error)) [][]string {
	t.Helper()
	var pages [][]string
	p := Page{Limit: limit}
	for {
		keys, next, err := list(p)
		require.NoError(t, err)
		pages = append(pages, keys)
		if next == "" {
			return pages
		}
		require.Less(t, len(pages), 100, "paging does not end")
		p.After = next
	}
}

func testStorePing(t *testing.T, s *Store) {
	require.NoError(t, s.Ping(t.Context()))
}

func testAccountRoundTrip(t *testing.T, s *Store) {
	for _, tc := range []struct {
		name string
		in   Account
		want Account
	}{
		{
			name: "full",
			in: Account{Name: "acme", QuotaBytes: 1 << 40, QuotaFiles: 1000, MaxFileSize: 1 << 30,
				AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}, Disabled: true,
				CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)},
			want: Account{Name: "acme", QuotaBytes: 1 << 40, QuotaFiles: 1000, MaxFileSize: 1 << 30,
				AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}, Disabled: true,
				CreatedAt: stored(t0), UpdatedAt: stored(t0.Add(time.Hour))},
		},
		{
			name: "nil allow-list reads back empty",
			in:   Account{Name: "bare", CreatedAt: t0, UpdatedAt: t0},
			want: Account{Name: "bare", AllowedCIDRs: []string{}, CreatedAt: stored(t0), UpdatedAt: stored(t0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.CreateAccount(t.Context(), tc.in))
			got, err := s.Account(t.Context(), tc.in.Name)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, time.UTC, got.CreatedAt.Location())
		})
	}
}

func testAccountErrors(t *testing.T, s *Store) {
	createAccounts(t, s, "acme")
	ctx := t.Context()

	requireConflict(t, s.CreateAccount(ctx, newAccount("acme")), `account "acme" already exists`)

	_, err := s.Account(ctx, "nobody")
	requireNotFound(t, err, `account "nobody"`)
	requireNotFound(t, s.UpdateAccount(ctx, newAccount("nobody")), `account "nobody"`)
	requireNotFound(t, s.DeleteAccount(ctx, "nobody"), `account "nobody"`)

	require.NoError(t, s.DeleteAccount(ctx, "acme"))
	_, err = s.Account(ctx, "acme")
	requireNotFound(t, err, `account "acme"`)
}

func testAccountUpdate(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	want := Account{Name: "acme", QuotaBytes: 5, QuotaFiles: 6, MaxFileSize: 7, AllowedCIDRs: []string{"192.0.2.0/24"},
		Disabled: true, CreatedAt: stored(t0), UpdatedAt: stored(t0.Add(time.Minute))}
	update := want
	update.CreatedAt = t0.Add(48 * time.Hour) // not mutable: ignored
	require.NoError(t, s.UpdateAccount(ctx, update))
	got, err := s.Account(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// And back, including an emptied allow-list.
	want = newAccount("acme")
	require.NoError(t, s.UpdateAccount(ctx, want))
	got, err = s.Account(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func testAccountsPaging(t *testing.T, s *Store) {
	ctx := t.Context()
	// Created out of order: the list is by name.
	createAccounts(t, s, "g", "c", "a", "e", "b", "f", "d")
	pages := collect(t, 3, func(p Page) ([]string, string, error) {
		items, next, err := s.Accounts(ctx, p)
		names := make([]string, len(items))
		for i, a := range items {
			names[i] = a.Name
		}
		return names, next, err
	})
	require.Equal(t, [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}, pages)

	// A page that ends exactly at the last item has no next page.
	items, next, err := s.Accounts(ctx, Page{Limit: 7})
	require.NoError(t, err)
	require.Len(t, items, 7)
	require.Empty(t, next)

	items, next, err = s.Accounts(ctx, Page{})
	require.NoError(t, err)
	require.Len(t, items, 7, "default limit")
	require.Empty(t, next)

	_, _, err = s.Accounts(ctx, Page{After: "not a cursor!"})
	requireInvalidCursor(t, err)
}

func testAccountDeleteCascades(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme", "other")
	key := newCredential("acme", "laptop", TypeSSHPublicKey)
	pass := newCredential("acme", "login", TypePassword)
	kept := newCredential("other", "login", TypePassword)
	global := newCredential("", "ci", TypeAPIToken)
	for _, c := range []Credential{key, pass, kept, global} {
		require.NoError(t, s.CreateCredential(ctx, c))
	}
	_, err := s.PutFeed(ctx, Feed{Account: "acme", Name: "orders", Path: "/orders"})
	require.NoError(t, err)
	_, err = s.PutFeed(ctx, Feed{Account: "other", Name: "orders", Path: "/orders"})
	require.NoError(t, err)

	require.NoError(t, s.DeleteAccount(ctx, "acme"))

	_, err = s.Credential(ctx, "acme", "login")
	requireNotFound(t, err, `credential "login" of account "acme"`)
	_, err = s.CredentialBySSHFingerprint(ctx, key.Fingerprint)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Feed(ctx, "acme", "orders")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Feeds(ctx, "acme")
	requireNotFound(t, err, `account "acme"`)

	var n int
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials WHERE scope = 'acme'`).Scan(&n))
	require.Zero(t, n)

	// Other accounts and global credentials are untouched.
	_, err = s.Credential(ctx, "other", "login")
	require.NoError(t, err)
	_, err = s.Credential(ctx, "", "ci")
	require.NoError(t, err)
	_, err = s.Feed(ctx, "other", "orders")
	require.NoError(t, err)

	// The name is free again, and so is the SSH key.
	createAccounts(t, s, "acme")
	key.ID = ulid.Make().String()
	require.NoError(t, s.CreateCredential(ctx, key))
}

func testAuditAppend(t *testing.T, s *Store) {
	ctx := t.Context()
	e := AuditEvent{ID: ulid.Make().String(), Time: t0, Actor: "bootstrap", Action: "account.create",
		Target: "accounts/acme", Remote: "192.0.2.1:5555", RequestID: "req-1", Result: "ok"}
	require.NoError(t, s.AppendAudit(ctx, e))
	requireConflict(t, s.AppendAudit(ctx, e), fmt.Sprintf("audit event %q already exists", e.ID))

	// No id and no time: both are filled in, and the event sorts last.
	before := time.Now()
	require.NoError(t, s.AppendAudit(ctx, AuditEvent{Actor: "system", Action: "startup", Target: "server"}))

	items, next, err := s.Audit(ctx, AuditFilter{}, Page{})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, items, 2)
	require.Equal(t, "startup", items[0].Action, "newest first")
	_, err = ulid.ParseStrict(items[0].ID)
	require.NoError(t, err)
	require.WithinDuration(t, before, items[0].Time, time.Minute)

	want := e
	want.Time = stored(t0)
	require.Equal(t, want, items[1])
}

func testAuditFilterAndPaging(t *testing.T, s *Store) {
	ctx := t.Context()
	events := []AuditEvent{
		{Actor: "alice", Action: "account.create", Target: "accounts/acme"},
		{Actor: "alice", Action: "credential.create", Target: "accounts/acme/credentials/login"},
		{Actor: "bob", Action: "credential.create", Target: "accounts/acme2/credentials/login"},
		{Actor: "bob", Action: "credential.delete", Target: "accounts/acme/credentials/login"},
		{Actor: "alice", Action: "feed.put", Target: "accounts/ACME/feeds/x"},
		{Actor: "carol", Action: "feed.put", Target: "accounts/a%e/feeds/x"},
		{Actor: "alice", Action: "credential.create", Target: "credentials/ci"},
	}
	ids := make([]string, len(events))
	for i, e := range events {
		// Increasing ULIDs: the i-th event is the i-th oldest.
		e.Time = t0.Add(time.Duration(i) * time.Second)
		e.ID = ulid.MustNew(ulid.Timestamp(e.Time), ulid.DefaultEntropy()).String()
		ids[i] = e.ID
		require.NoError(t, s.AppendAudit(ctx, e))
	}
	// want lists the indexes of events, newest first.
	for _, tc := range []struct {
		name   string
		filter AuditFilter
		want   []int
	}{
		{"all", AuditFilter{}, []int{6, 5, 4, 3, 2, 1, 0}},
		{"actor", AuditFilter{Actor: "alice"}, []int{6, 4, 1, 0}},
		{"action", AuditFilter{Action: "credential.create"}, []int{6, 2, 1}},
		{"target prefix", AuditFilter{Target: "accounts/acme"}, []int{3, 2, 1, 0}},
		{"target prefix with slash", AuditFilter{Target: "accounts/acme/"}, []int{3, 1}},
		{"target prefix is case-sensitive", AuditFilter{Target: "accounts/ACME"}, []int{4}},
		{"target prefix has no wildcards", AuditFilter{Target: "accounts/a%"}, []int{5}},
		{"target prefix _ is literal", AuditFilter{Target: "accounts/acm_"}, nil},
		{"combined", AuditFilter{Actor: "alice", Action: "credential.create", Target: "accounts/"}, []int{1}},
		{"no match", AuditFilter{Actor: "mallory"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, next, err := s.Audit(ctx, tc.filter, Page{})
			require.NoError(t, err)
			require.Empty(t, next)
			got := make([]string, len(items))
			for i, e := range items {
				got[i] = e.ID
			}
			want := make([]string, len(tc.want))
			for i, idx := range tc.want {
				want[i] = ids[idx]
			}
			require.Equal(t, want, got)
		})
	}

	t.Run("paging", func(t *testing.T) {
		pages := collect(t, 3, func(p Page) ([]string, string, error) {
			items, next, err := s.Audit(ctx, AuditFilter{}, p)
			got := make([]string, len(items))
			for i, e := range items {
				got[i] = e.ID
			}
			return got, next, err
		})
		require.Equal(t, [][]string{{ids[6], ids[5], ids[4]}, {ids[3], ids[2], ids[1]}, {ids[0]}}, pages)
	})

	t.Run("paging with filter", func(t *testing.T) {
		pages := collect(t, 1, func(p Page) ([]string, string, error) {
			items, next, err := s.Audit(ctx, AuditFilter{Actor: "bob"}, p)
			got := make([]string, len(items))
			for i, e := range items {
				got[i] = e.ID
			}
			return got, next, err
		})
		require.Equal(t, [][]string{{ids[3]}, {ids[2]}}, pages)
	})

	t.Run("invalid cursor", func(t *testing.T) {
		_, _, err := s.Audit(ctx, AuditFilter{}, Page{After: "%%%"})
		requireInvalidCursor(t, err)
	})
}
