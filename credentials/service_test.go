package credentials

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/store"
)

// newTestService returns a Service on a real SQLite file in a temp dir.
func newTestService(t *testing.T) *Service {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(t.Context(), store.Config{Driver: store.SQLite}, dir, logger)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	key, err := GenerateMasterKey()
	require.NoError(t, err)
	vault, err := NewVault(key)
	require.NoError(t, err)
	svc, err := NewService(Config{Argon2: DefaultArgon2, HomeDir: filepath.Join(dir, "home"), MaxConcurrentHashes: 2}, NewStore(db), vault, logger)
	require.NoError(t, err)
	return svc
}

func newSSHKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	k, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return k
}

func TestCreateAccount(t *testing.T) {
	svc := newTestService(t)
	a, err := svc.CreateAccount(t.Context(), Account{Name: "acme", AllowedCIDRs: []string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1/32"}})
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}, a.AllowedCIDRs)
	require.DirExists(t, filepath.Join(svc.cfg.HomeDir, "acme"))

	_, err = svc.CreateAccount(t.Context(), Account{Name: "acme"})
	require.ErrorIs(t, err, ErrConflict)

	tests := []struct {
		name   string
		a      Account
		field  string
		reason string
	}{
		{"empty name", Account{}, "name", "is required"},
		{"overlong name", Account{Name: strings.Repeat("a", 64)}, "name", "at most 63"},
		{"upper case", Account{Name: "Acme"}, "name", "must match"},
		{"dot (NATS subject token)", Account{Name: "ac.me"}, "name", "must match"},
		{"leading dash", Account{Name: "-acme"}, "name", "must match"},
		{"negative quota", Account{Name: "neg", QuotaBytes: -1}, "quota_bytes", "positive"},
		{"bad cidr", Account{Name: "cidr", AllowedCIDRs: []string{"10.0.0.0/33"}}, "allowed_cidrs[0]", "not an IP address or CIDR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateAccount(t.Context(), tc.a)
			requireValidation(t, err, tc.field, tc.reason)
		})
	}

	name := "acme2"
	_, err = svc.UpdateAccount(t.Context(), "acme", AccountPatch{Name: &name})
	require.ErrorIs(t, err, ErrConflict)
	disabled := true
	a, err = svc.UpdateAccount(t.Context(), "acme", AccountPatch{Disabled: &disabled})
	require.NoError(t, err)
	require.True(t, a.Disabled)
}

func TestCreateCredentialSpecErrors(t *testing.T) {
	svc := newTestService(t)
	_, err := svc.CreateAccount(t.Context(), Account{Name: "acme"})
	require.NoError(t, err)
	tests := []struct {
		name    string
		account string
		spec    Spec
		field   string
		reason  string
	}{
		{"unknown type", "acme", Spec{Name: "x", Type: "telepathy"}, "type", `unknown credential type "telepathy"`},
		{"missing type", "acme", Spec{Name: "x"}, "type", "is required"},
		{"global type on account", "acme", Spec{Name: "x", Type: TypeAPIToken}, "type", "global credential"},
		{"account type globally", "", Spec{Name: "x", Type: TypePassword}, "type", "account credential"},
		{"field of another type", "acme", Spec{Name: "x", Type: TypePassword, Password: "long enough password", Token: "t"}, "token", "does not apply"},
		{"short password", "acme", Spec{Name: "x", Type: TypePassword, Password: "short"}, "password", "12"},
		{"bad name", "acme", Spec{Name: "X Y", Type: TypePassword, Password: "long enough password"}, "name", "must match"},
		{"empty zip password", "acme", Spec{Name: "x", Type: TypeZIPPassword}, "password", "is required"},
		{"usage missing", "acme", Spec{Name: "x", Type: TypePGPPublicKey, ArmoredKey: "k"}, "usage", "verify or encrypt"},
		{"generate and armored", "acme", Spec{Name: "x", Type: TypePGPPrivateKey, Generate: true, ArmoredKey: "k"}, "armored_key", "not both"},
		{"bad algorithm", "acme", Spec{Name: "x", Type: TypePGPPrivateKey, Generate: true, Algorithm: "dsa"}, "algorithm", "curve25519"},
		{"no key", "acme", Spec{Name: "x", Type: TypePGPPrivateKey}, "armored_key", "is required"},
		{"expiry in the past", "acme", Spec{Name: "x", Type: TypeSSHPublicKey, PublicKey: "k", ExpiresAt: ptr(time.Now().Add(-time.Hour))}, "expires_at", "in the past"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateCredential(t.Context(), tc.account, tc.spec)
			requireValidation(t, err, tc.field, tc.reason)
		})
	}
	_, err = svc.CreateCredential(t.Context(), "nobody", Spec{Name: "x", Type: TypePassword, Password: "long enough password"})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestCredentialLifecycle(t *testing.T) {
	svc := newTestService(t)
	ctx := t.Context()
	for _, n := range []string{"acme", "other"} {
		_, err := svc.CreateAccount(ctx, Account{Name: n})
		require.NoError(t, err)
	}
	key := newSSHKey(t)
	line := string(ssh.MarshalAuthorizedKey(key))
	c, err := svc.CreateCredential(ctx, "acme", Spec{Name: "laptop", Type: TypeSSHPublicKey, PublicKey: line})
	require.NoError(t, err)
	require.Equal(t, ssh.FingerprintSHA256(key), c.Fingerprint)

	_, err = svc.CreateCredential(ctx, "other", Spec{Name: "laptop", Type: TypeSSHPublicKey, PublicKey: line})
	require.ErrorIs(t, err, ErrConflict, "one key cannot belong to two accounts")
	_, err = svc.CreateCredential(ctx, "acme", Spec{Name: "laptop", Type: TypePassword, Password: "long enough password"})
	require.ErrorIs(t, err, ErrConflict)

	_, err = svc.UpdateCredential(ctx, "acme", "laptop", CredentialPatch{Name: ptr("desktop")})
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), "credential names cannot be changed once saved")
	_, err = svc.UpdateCredential(ctx, "acme", "laptop", CredentialPatch{Type: ptr(TypePassword)})
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), "types cannot be changed")
	same := "laptop"
	c, err = svc.UpdateCredential(ctx, "acme", "laptop", CredentialPatch{Name: &same, Description: ptr("work laptop")})
	require.NoError(t, err)
	require.Equal(t, "work laptop", c.Description)
	_, err = svc.UpdateCredential(ctx, "acme", "laptop", CredentialPatch{Usage: ptr("verify")})
	requireValidation(t, err, "usage", "only to pgp-public-key")

	// Key login: found for its account only, no side effects.
	acct, got, err := svc.FindKey(ctx, "acme", key)
	require.NoError(t, err)
	require.Equal(t, "acme", acct.Name)
	require.Equal(t, c.ID, got.ID)
	require.Nil(t, got.LastUsedAt)
	_, _, err = svc.FindKey(ctx, "other", key)
	require.ErrorIs(t, err, ErrUnauthenticated)
	_, _, err = svc.FindKey(ctx, "acme", newSSHKey(t))
	require.ErrorIs(t, err, ErrUnauthenticated)

	_, err = svc.PublicKey(ctx, "acme", "laptop")
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, svc.DeleteCredential(ctx, "acme", "laptop"))
	require.ErrorIs(t, svc.DeleteCredential(ctx, "acme", "laptop"), ErrNotFound)
}

func TestServiceCheckPassword(t *testing.T) {
	svc := newTestService(t)
	ctx := t.Context()
	_, err := svc.CreateAccount(ctx, Account{Name: "acme"})
	require.NoError(t, err)
	_, err = svc.CreateCredential(ctx, "acme", Spec{Name: "login", Type: TypePassword, Password: "correct horse battery"})
	require.NoError(t, err)

	acct, c, err := svc.CheckPassword(ctx, "acme", "correct horse battery")
	require.NoError(t, err)
	require.Equal(t, "acme", acct.Name)
	require.Equal(t, "login", c.Name)
	for _, tc := range []struct{ user, password string }{
		{"acme", "wrong horse battery"},
		{"nobody", "correct horse battery"},
		{"acme", strings.Repeat("x", 2000)},
	} {
		_, _, err := svc.CheckPassword(ctx, tc.user, tc.password)
		require.ErrorIs(t, err, ErrUnauthenticated)
	}
	// The stored hash is argon2id with the configured parameters, never the password.
	stored, err := svc.store.Credential(ctx, "acme", "login")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(stored.SecretHash, "$argon2id$v=19$m=19456,t=2,p=1$"), stored.SecretHash)
}

func TestAPITokenAndJWTKeys(t *testing.T) {
	svc := newTestService(t)
	ctx := t.Context()
	token, c, err := svc.CreateAPIToken(ctx, "ci", "")
	require.NoError(t, err)
	require.Equal(t, TokenPrefix(string(token)), c.Fingerprint)
	got, err := svc.VerifyAPIToken(ctx, string(token))
	require.NoError(t, err)
	require.Equal(t, c.ID, got.ID)
	stored, err := svc.Credential(ctx, "", "ci")
	require.NoError(t, err)
	require.NotNil(t, stored.LastUsedAt, "last_used_at is recorded")
	_, err = svc.VerifyAPIToken(ctx, string(token)+"x")
	require.ErrorIs(t, err, ErrUnauthenticated)

	created, err := svc.EnsureAPIToken(ctx, "bootstrap", "Vq3xZ8pL2mN7rT4kW9sB1cF6hJ0dG5yQaE")
	require.NoError(t, err)
	require.True(t, created)
	created, err = svc.EnsureAPIToken(ctx, "bootstrap", "Vq3xZ8pL2mN7rT4kW9sB1cF6hJ0dG5yQaE")
	require.NoError(t, err)
	require.False(t, created)

	secret := "0123456789abcdef0123456789abcdef-hmac"
	_, err = svc.CreateCredential(ctx, "", Spec{Name: "hs", Type: TypeJWTHS256, Secret: Secret(secret)})
	require.NoError(t, err)
	jc, key, err := svc.JWTKey(ctx, "hs")
	require.NoError(t, err)
	require.Equal(t, TypeJWTHS256, jc.Type)
	require.Equal(t, []byte(secret), key)
	for _, kid := range []string{"ci", "missing", "../etc"} {
		_, _, err := svc.JWTKey(ctx, kid)
		require.ErrorIs(t, err, ErrUnauthenticated, kid)
	}
}

func TestReseal(t *testing.T) {
	svc := newTestService(t)
	ctx := t.Context()
	oldKey, err := GenerateMasterKey()
	require.NoError(t, err)
	svc.vault, err = NewVault(oldKey)
	require.NoError(t, err)
	_, err = svc.CreateAccount(ctx, Account{Name: "acme"})
	require.NoError(t, err)
	_, err = svc.CreateCredential(ctx, "acme", Spec{Name: "zip", Type: TypeZIPPassword, Password: "zip secret"})
	require.NoError(t, err)
	old := svc.vault.PrimaryID()

	next, err := GenerateMasterKey()
	require.NoError(t, err)
	rotated, err := NewVault(next, oldKey)
	require.NoError(t, err)
	svc.vault = rotated
	n, err := svc.Reseal(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	c, err := svc.Credential(ctx, "acme", "zip")
	require.NoError(t, err)
	require.Equal(t, next.ID, c.KeyID)
	require.NotEqual(t, old, c.KeyID)
	only, err := NewVault(next)
	require.NoError(t, err)
	svc.vault = only
	plain, err := svc.Secret(c)
	require.NoError(t, err)
	require.Equal(t, "zip secret", string(plain))
}

func TestFeeds(t *testing.T) {
	svc := newTestService(t)
	ctx := t.Context()
	_, err := svc.CreateAccount(ctx, Account{Name: "acme"})
	require.NoError(t, err)
	cols := []Column{{Name: "id", Type: "integer", Required: true, Unique: true}, {Name: "day", Type: "date"}}

	f, created, err := svc.PutFeed(ctx, Feed{Account: "acme", Name: "orders", Path: "/orders/", Schema: Schema{Columns: cols}})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "/orders", f.Path)
	require.Equal(t, "reject_file", f.OnError)
	require.Equal(t, "auto", f.Schema.Delimiter)
	require.Equal(t, "2006-01-02", f.Schema.Columns[1].Format)
	require.DirExists(t, filepath.Join(svc.cfg.HomeDir, "acme", "orders"), "creating a feed creates its folder")
	_, created, err = svc.PutFeed(ctx, Feed{Account: "acme", Name: "orders", Path: "/orders", Schema: Schema{Columns: cols}})
	require.NoError(t, err)
	require.False(t, created)
	_, _, err = svc.PutFeed(ctx, Feed{Account: "acme", Name: "root", Path: "/", Schema: Schema{Columns: cols}})
	require.NoError(t, err)
	_, _, err = svc.PutFeed(ctx, Feed{Account: "acme", Name: "eu", Path: "/orders/eu", Schema: Schema{Columns: cols}})
	require.NoError(t, err)
	_, _, err = svc.PutFeed(ctx, Feed{Account: "acme", Name: "dup", Path: "/orders", Schema: Schema{Columns: cols}})
	require.ErrorIs(t, err, ErrConflict)

	for path, want := range map[string]string{"/x.csv": "root", "/orders/a.csv": "orders", "/orders/eu/b.csv": "eu", "/ordersx/c.csv": "root", "/orders/europe/d.csv": "orders"} {
		got, ok, err := svc.FeedFor(ctx, "acme", path)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, got.Name, path)
	}

	// A planted symlink cannot redirect where a feed folder is created.
	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(svc.cfg.HomeDir, "acme", "evil")))
	_, _, err = svc.PutFeed(ctx, Feed{Account: "acme", Name: "evil", Path: "/evil/inner", Schema: Schema{Columns: cols}})
	require.Error(t, err)
	require.NoDirExists(t, filepath.Join(outside, "inner"))

	tests := []struct {
		name   string
		feed   Feed
		field  string
		reason string
	}{
		{"relative path", Feed{Path: "orders"}, "path", "absolute"},
		{"dot-dot", Feed{Path: "/a/../b"}, "path", ".."},
		{"reports", Feed{Path: "/reports/x"}, "path", "reserved"},
		{"bad on_error", Feed{Path: "/x", OnError: "ignore"}, "on_error", "reject_file or skip_rows"},
		{"bad rate", Feed{Path: "/x", MaxErrorRate: 2}, "max_error_rate", "between 0 and 1"},
		{"bad delimiter", Feed{Path: "/x", Schema: Schema{Delimiter: "::", Columns: cols}}, "schema.delimiter", "must be auto"},
		{"bad encoding", Feed{Path: "/x", Schema: Schema{Encoding: "ebcdic", Columns: cols}}, "schema.encoding", "utf-8"},
		{"no columns", Feed{Path: "/x"}, "schema.columns", "at least one"},
		{"unknown type", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "money"}}}}, "schema.columns[0].type", `unknown column type "money"`},
		{"duplicate column", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "string"}, {Name: " A ", Type: "string"}}}}, "schema.columns[1].name", "duplicate column name"},
		{"enum without values", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "enum"}}}}, "schema.columns[0].values", "at least one value"},
		{"regex does not compile", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "regex", Pattern: "(["}}}}, "schema.columns[0].pattern", "does not compile"},
		{"bad date layout", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "date", Format: "YYYY-MM-DD"}}}}, "schema.columns[0].format", "not a Go time layout"},
		{"layout without day", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "date", Format: "2006-01"}}}}, "schema.columns[0].format", "year, month and day"},
		{"values on a string", Feed{Path: "/x", Schema: Schema{Columns: []Column{{Name: "a", Type: "string", Values: []string{"x"}}}}}, "schema.columns[0].values", "only to enum"},
		{"expected_every negative", Feed{Path: "/x", ExpectedEvery: -time.Hour, Schema: Schema{Columns: cols}}, "expected_every", "must not be negative"},
		{"expected_every under a minute", Feed{Path: "/x", ExpectedEvery: 59 * time.Second, Schema: Schema{Columns: cols}}, "expected_every", "at least 1m (got 59s)"},
		{"expected_every over 90 days", Feed{Path: "/x", ExpectedEvery: 90*24*time.Hour + time.Second, Schema: Schema{Columns: cols}}, "expected_every", "at most 2160h, 90 days"},
		{"expected_every fraction of a second", Feed{Path: "/x", ExpectedEvery: time.Minute + time.Millisecond, Schema: Schema{Columns: cols}}, "expected_every", "whole number of seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.feed.Account, tc.feed.Name = "acme", "bad"
			_, _, err := svc.PutFeed(ctx, tc.feed)
			requireValidation(t, err, tc.field, tc.reason)
		})
	}
	require.True(t, errors.Is(svc.DeleteFeed(ctx, "acme", "nope"), ErrNotFound))
}

func TestFeedExpectedEvery(t *testing.T) {
	svc := newTestService(t)
	ctx := t.Context()
	_, err := svc.CreateAccount(ctx, Account{Name: "acme"})
	require.NoError(t, err)
	cols := []Column{{Name: "id", Type: "integer"}}
	for _, every := range []time.Duration{MinExpectedEvery, 24 * time.Hour, MaxExpectedEvery, 0} {
		f, _, err := svc.PutFeed(ctx, Feed{Account: "acme", Name: "orders", Path: "/orders", ExpectedEvery: every, Schema: Schema{Columns: cols}})
		require.NoError(t, err)
		require.Equal(t, every, f.ExpectedEvery)
		got, err := svc.Feed(ctx, "acme", "orders")
		require.NoError(t, err)
		require.Equal(t, every, got.ExpectedEvery)
	}
}

func TestExpectedEveryText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		text string // FormatExpectedEvery(want)
	}{
		{"", 0, ""},
		{"24h", 24 * time.Hour, "24h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"1m", time.Minute, "1m"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"2160h", MaxExpectedEvery, "2160h"},
		{"1h0m1s", time.Hour + time.Second, "1h0m1s"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseExpectedEvery(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, d)
			require.Equal(t, tc.text, FormatExpectedEvery(d))
			back, err := ParseExpectedEvery(FormatExpectedEvery(d))
			require.NoError(t, err)
			require.Equal(t, d, back)
		})
	}
	for _, bad := range []string{"1d", "soon", "24", "h", strings.Repeat("9", 100)} {
		t.Run("bad "+bad[:min(len(bad), 8)], func(t *testing.T) {
			_, err := ParseExpectedEvery(bad)
			requireValidation(t, err, "expected_every", "must be a duration such as")
		})
	}
}

func TestFeedJSON(t *testing.T) {
	f := Feed{Account: "acme", Name: "orders", Path: "/orders", OnError: "reject_file", ExpectedEvery: 24 * time.Hour,
		Schema:    Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []Column{{Name: "id", Type: "integer"}}},
		CreatedAt: stored(t0), UpdatedAt: stored(t0)}
	b, err := json.Marshal(f)
	require.NoError(t, err)
	require.Contains(t, string(b), `"expected_every":"24h"`)
	require.Contains(t, string(b), `"allow_zipcrypto":false`, "the other fields are as before")
	var back Feed
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, f, back)

	f.ExpectedEvery = 0
	b, err = json.Marshal(f)
	require.NoError(t, err)
	require.Contains(t, string(b), `"expected_every":""`)
	back = Feed{ExpectedEvery: time.Hour}
	require.NoError(t, json.Unmarshal([]byte(`{"name":"orders"}`), &back))
	require.Zero(t, back.ExpectedEvery, "absent is none")
	require.Equal(t, "orders", back.Name)

	err = json.Unmarshal([]byte(`{"expected_every":"1d"}`), &back)
	requireValidation(t, err, "expected_every", "must be a duration")
}
