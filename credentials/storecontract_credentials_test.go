package credentials

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
)

func testCredentialRoundTrip(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	for _, tc := range []struct {
		name string
		in   Credential
	}{
		{
			name: "every field set",
			in: Credential{
				ID: ulid.Make().String(), Account: "acme", Name: "pgp", Type: TypePGPPrivateKey,
				Fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567",
				Metadata: Metadata{Algorithm: "ed25519", Bits: 256, Comment: "c", KeyIDs: []string{"AA", "BB"},
					UserIDs: []string{"Acme <ops@acme.example>"}, Usage: "encrypt", TokenPrefix: "x", Generated: true},
				PublicData: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n…", SecretHash: "h",
				Sealed: []byte{0, 1, 2, 0xff}, KeyID: "k7", Description: "ünïcode 'quoted'",
				CreatedAt: t0, UpdatedAt: t0.Add(time.Second),
				LastUsedAt: ptr(t0.Add(time.Minute)), ExpiresAt: ptr(t0.Add(24 * time.Hour)),
			},
		},
		{
			name: "nullable fields empty",
			in: Credential{ID: ulid.Make().String(), Account: "acme", Name: "login", Type: TypePassword,
				SecretHash: "$argon2id$…", CreatedAt: t0, UpdatedAt: t0},
		},
		{
			name: "global",
			in: Credential{ID: ulid.Make().String(), Name: "hs", Type: TypeJWTHS256, Sealed: []byte("s"),
				KeyID: "k1", CreatedAt: t0, UpdatedAt: t0, ExpiresAt: ptr(t0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.CreateCredential(ctx, tc.in))
			want := tc.in
			want.CreatedAt, want.UpdatedAt = stored(want.CreatedAt), stored(want.UpdatedAt)
			if want.LastUsedAt != nil {
				want.LastUsedAt = ptr(stored(*want.LastUsedAt))
			}
			if want.ExpiresAt != nil {
				want.ExpiresAt = ptr(stored(*want.ExpiresAt))
			}
			got, err := s.Credential(ctx, tc.in.Account, tc.in.Name)
			require.NoError(t, err)
			require.Equal(t, want, got)

			// Global credentials have no account row to reference.
			var accountIsNull bool
			require.NoError(t, s.db.QueryRowContext(ctx, `SELECT account IS NULL FROM credentials WHERE id = $1`,
				tc.in.ID).Scan(&accountIsNull))
			require.Equal(t, tc.in.Account == "", accountIsNull)
		})
	}
}

func testCredentialCreateErrors(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme", "other")
	for _, c := range []Credential{
		newCredential("acme", "login", TypePassword),
		newCredential("acme", "laptop", TypeSSHPublicKey),
		newCredential("", "ci", TypeAPIToken),
		newCredential("acme", "partner", TypePGPPublicKey),
	} {
		require.NoError(t, s.CreateCredential(ctx, c))
	}

	// with modifies a fresh credential.
	with := func(account, name string, typ Type, edit func(*Credential)) Credential {
		c := newCredential(account, name, typ)
		if edit != nil {
			edit(&c)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		c        Credential
		notFound string // the error wraps ErrNotFound and contains this
		conflict string // the error is this conflict
	}{
		{name: "missing account", c: with("nobody", "login", TypePassword, nil), notFound: `account "nobody"`},
		{name: "same name in account", c: with("acme", "login", TypeZIPPassword, nil),
			conflict: `credential "login" already exists in account "acme"`},
		{name: "same global name", c: with("", "ci", TypeJWTHS256, nil), conflict: `credential "ci" already exists`},
		{name: "same SSH key in another account",
			c:        with("other", "desktop", TypeSSHPublicKey, func(c *Credential) { c.Fingerprint = "SHA256:acme/laptop" }),
			conflict: `this SSH key is already registered (credential "laptop" of account "acme")`},
		{name: "same SSH key in the same account",
			c:        with("acme", "desktop", TypeSSHPublicKey, func(c *Credential) { c.Fingerprint = "SHA256:acme/laptop" }),
			conflict: `this SSH key is already registered (credential "laptop" of account "acme")`},
		{name: "same token hash",
			c:        with("", "ci2", TypeAPIToken, func(c *Credential) { c.SecretHash = "hash-of-ci" }),
			conflict: `this token is already registered`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateCredential(ctx, tc.c)
			if tc.notFound != "" {
				requireNotFound(t, err, tc.notFound)
				require.NotErrorIs(t, err, ErrConflict)
				return
			}
			requireConflict(t, err, tc.conflict)
			_, err = s.Credential(ctx, tc.c.Account, tc.c.Name)
			if tc.c.Name != "login" && tc.c.Name != "ci" {
				require.ErrorIs(t, err, ErrNotFound, "nothing stored")
			}
		})
	}

	for _, tc := range []struct {
		name string
		c    Credential
	}{
		{"same name in another account", with("other", "login", TypePassword, nil)},
		{"account name used globally", with("", "login", TypeJWTRS256, nil)},
		{"same fingerprint on a type without the SSH rule",
			with("other", "partner", TypePGPPublicKey, func(c *Credential) { c.Fingerprint = "SHA256:acme/laptop" })},
		{"same hash on a type without the token rule",
			with("other", "pw", TypePassword, func(c *Credential) { c.SecretHash = "hash-of-ci" })},
	} {
		t.Run("allowed: "+tc.name, func(t *testing.T) {
			require.NoError(t, s.CreateCredential(ctx, tc.c))
		})
	}
}

func testCredentialConcurrentCreate(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateCredential(ctx, newCredential("acme", "login", TypePassword))
		})
	}
	wg.Wait()
	var ok, conflicts int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrConflict):
			requireConflict(t, err, `credential "login" already exists in account "acme"`)
			conflicts++
		default:
			require.NoError(t, err, "neither success nor conflict")
		}
	}
	require.Equal(t, 1, ok)
	require.Equal(t, n-1, conflicts)
}

func testCredentialsPaging(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme", "empty")
	for _, name := range []string{"e", "a", "g", "c", "b", "f", "d"} {
		require.NoError(t, s.CreateCredential(ctx, newCredential("acme", name, TypeZIPPassword)))
	}
	for _, name := range []string{"z", "y"} {
		require.NoError(t, s.CreateCredential(ctx, newCredential("", name, TypeJWTHS256)))
	}
	names := func(account string) func(p Page) ([]string, string, error) {
		return func(p Page) ([]string, string, error) {
			items, next, err := s.Credentials(ctx, account, p)
			got := make([]string, len(items))
			for i, c := range items {
				require.Equal(t, account, c.Account)
				got[i] = c.Name
			}
			return got, next, err
		}
	}
	require.Equal(t, [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}, collect(t, 3, names("acme")))
	require.Equal(t, [][]string{{"y", "z"}}, collect(t, 0, names("")))

	items, next, err := s.Credentials(ctx, "empty", Page{})
	require.NoError(t, err)
	require.Empty(t, next)
	require.NotNil(t, items)
	require.Empty(t, items)

	_, _, err = s.Credentials(ctx, "nobody", Page{})
	requireNotFound(t, err, `account "nobody"`)
	_, _, err = s.Credentials(ctx, "acme", Page{After: "***"})
	requireInvalidCursor(t, err)
}

func testCredentialsByType(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme", "other")
	for _, c := range []Credential{
		newCredential("acme", "k2", TypeSSHPublicKey),
		newCredential("acme", "k1", TypeSSHPublicKey),
		newCredential("acme", "login", TypePassword),
		newCredential("other", "k0", TypeSSHPublicKey),
		newCredential("", "rs", TypeJWTRS256),
	} {
		require.NoError(t, s.CreateCredential(ctx, c))
	}
	for _, tc := range []struct {
		name    string
		account string
		typ     Type
		want    []string
	}{
		{"account keys by name", "acme", TypeSSHPublicKey, []string{"k1", "k2"}},
		{"account passwords", "acme", TypePassword, []string{"login"}},
		{"none of the type", "acme", TypeZIPPassword, []string{}},
		{"global", "", TypeJWTRS256, []string{"rs"}},
		{"global none", "", TypeJWTHS256, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := s.CredentialsByType(ctx, tc.account, tc.typ)
			require.NoError(t, err)
			got := make([]string, len(items))
			for i, c := range items {
				require.Equal(t, tc.typ, c.Type)
				got[i] = c.Name
			}
			require.Equal(t, tc.want, got)
		})
	}
	_, err := s.CredentialsByType(ctx, "nobody", TypePassword)
	requireNotFound(t, err, `account "nobody"`)
}

func testCredentialLookups(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	key := newCredential("acme", "laptop", TypeSSHPublicKey)
	tok := newCredential("", "ci", TypeAPIToken)
	pw := newCredential("acme", "login", TypePassword)
	pw.SecretHash = "same-hash"
	for _, c := range []Credential{key, tok, pw} {
		require.NoError(t, s.CreateCredential(ctx, c))
	}

	got, err := s.CredentialBySSHFingerprint(ctx, key.Fingerprint)
	require.NoError(t, err)
	require.Equal(t, key.ID, got.ID)
	_, err = s.CredentialBySSHFingerprint(ctx, "SHA256:unknown")
	requireNotFound(t, err, `ssh key "SHA256:unknown"`)

	got, err = s.CredentialByTokenHash(ctx, tok.SecretHash)
	require.NoError(t, err)
	require.Equal(t, tok.ID, got.ID)
	_, err = s.CredentialByTokenHash(ctx, "same-hash") // a password's hash is not a token
	require.ErrorIs(t, err, ErrNotFound)
	require.NotContains(t, err.Error(), "same-hash", "the error does not repeat the hash")

	_, err = s.Credential(ctx, "acme", "nope")
	requireNotFound(t, err, `credential "nope" of account "acme"`)
	_, err = s.Credential(ctx, "", "nope")
	requireNotFound(t, err, `credential "nope"`)
	_, err = s.Credential(ctx, "", "login") // account credentials are not global
	require.ErrorIs(t, err, ErrNotFound)
}

func testCredentialUpdate(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	orig := newCredential("acme", "partner", TypePGPPublicKey)
	orig.Metadata = Metadata{Usage: "verify", KeyIDs: []string{"AA"}}
	orig.Description = "old"
	require.NoError(t, s.CreateCredential(ctx, orig))

	// Every field changes in the argument; only the mutable ones are written.
	upd := Credential{
		ID: orig.ID, Account: "acme", Name: "renamed", Type: TypePassword, Fingerprint: "other",
		Metadata:   Metadata{Usage: "encrypt", KeyIDs: []string{"AA", "BB"}, UserIDs: []string{"x"}},
		PublicData: "other", SecretHash: "other", Sealed: []byte("other"), KeyID: "k9", Description: "new",
		CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(2 * time.Hour),
		LastUsedAt: ptr(t0), ExpiresAt: ptr(t0.Add(3 * time.Hour)),
	}
	require.NoError(t, s.UpdateCredential(ctx, upd))
	want := orig
	want.Metadata, want.Description = upd.Metadata, upd.Description
	want.UpdatedAt, want.ExpiresAt = stored(upd.UpdatedAt), ptr(stored(*upd.ExpiresAt))
	got, err := s.Credential(ctx, "acme", "partner")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Clearing the expiry stores NULL again.
	upd.ExpiresAt = nil
	require.NoError(t, s.UpdateCredential(ctx, upd))
	got, err = s.Credential(ctx, "acme", "partner")
	require.NoError(t, err)
	require.Nil(t, got.ExpiresAt)

	missing := newCredential("acme", "ghost", TypePassword)
	requireNotFound(t, s.UpdateCredential(ctx, missing), `credential "ghost" of account "acme"`)
}

func testCredentialTouchAndDelete(t *testing.T, s *Store) {
	ctx := t.Context()
	createAccounts(t, s, "acme")
	c := newCredential("acme", "login", TypePassword)
	g := newCredential("", "ci", TypeAPIToken)
	require.NoError(t, s.CreateCredential(ctx, c))
	require.NoError(t, s.CreateCredential(ctx, g))

	at := t0.Add(5 * time.Minute)
	require.NoError(t, s.TouchCredential(ctx, c.ID, at))
	got, err := s.Credential(ctx, "acme", "login")
	require.NoError(t, err)
	require.Equal(t, ptr(stored(at)), got.LastUsedAt)
	require.Equal(t, stored(t0), got.UpdatedAt, "a login is not an update")
	requireNotFound(t, s.TouchCredential(ctx, "01NOPE", at), `credential id "01NOPE"`)

	require.NoError(t, s.DeleteCredential(ctx, "acme", "login"))
	_, err = s.Credential(ctx, "acme", "login")
	require.ErrorIs(t, err, ErrNotFound)
	requireNotFound(t, s.DeleteCredential(ctx, "acme", "login"), `credential "login" of account "acme"`)
	requireNotFound(t, s.DeleteCredential(ctx, "", "login"), `credential "login"`)
	requireNotFound(t, s.DeleteCredential(ctx, "acme", "ci"), `credential "ci" of account "acme"`)
	require.NoError(t, s.DeleteCredential(ctx, "", "ci"))
}

// sealedFixture stores credentials with and without sealed secrets and
// returns the ids of the sealed ones.
func sealedFixture(t *testing.T, s *Store) []string {
	t.Helper()
	createAccounts(t, s, "acme")
	var sealed []string
	for _, c := range []Credential{
		newCredential("acme", "zip", TypeZIPPassword),
		newCredential("acme", "pgp", TypePGPPrivateKey),
		newCredential("", "hs", TypeJWTHS256),
		newCredential("acme", "login", TypePassword), // hashed, nothing sealed
		newCredential("", "ci", TypeAPIToken),        // hashed, nothing sealed
	} {
		require.NoError(t, s.CreateCredential(t.Context(), c))
		if c.Sealed != nil {
			sealed = append(sealed, c.ID)
		}
	}
	return sealed
}

func testResealCredentials(t *testing.T, s *Store) {
	ctx := t.Context()
	sealedIDs := sealedFixture(t, s)
	var seen []string
	n, err := s.ResealCredentials(ctx, func(c Credential) (string, []byte, error) {
		require.Equal(t, "k1", c.KeyID)
		require.True(t, bytes.HasPrefix(c.Sealed, []byte("sealed ")))
		seen = append(seen, c.ID)
		return "k2", append([]byte("resealed "), c.Sealed...), nil
	})
	require.NoError(t, err)
	require.Equal(t, len(sealedIDs), n)
	require.ElementsMatch(t, sealedIDs, seen)

	for _, tc := range []struct{ account, name string }{{"acme", "zip"}, {"acme", "pgp"}, {"", "hs"}} {
		c, err := s.Credential(ctx, tc.account, tc.name)
		require.NoError(t, err)
		require.Equal(t, "k2", c.KeyID)
		require.Equal(t, "resealed sealed "+tc.name, string(c.Sealed))
	}
	c, err := s.Credential(ctx, "acme", "login")
	require.NoError(t, err)
	require.Nil(t, c.Sealed)
	require.Empty(t, c.KeyID)
}

func testResealCredentialsRollback(t *testing.T, s *Store) {
	ctx := t.Context()
	sealedIDs := sealedFixture(t, s)
	boom := errors.New("boom")
	calls := 0
	n, err := s.ResealCredentials(ctx, func(c Credential) (string, []byte, error) {
		calls++
		if calls == len(sealedIDs) { // fail on the last, after the others were rewritten
			return "", nil, boom
		}
		return "k2", []byte("new"), nil
	})
	require.ErrorIs(t, err, boom)
	require.Zero(t, n)
	require.Equal(t, len(sealedIDs), calls)

	for _, tc := range []struct{ account, name string }{{"acme", "zip"}, {"acme", "pgp"}, {"", "hs"}} {
		c, err := s.Credential(ctx, tc.account, tc.name)
		require.NoError(t, err)
		require.Equal(t, "k1", c.KeyID, "rolled back")
		require.Equal(t, "sealed "+tc.name, string(c.Sealed), "rolled back")
	}

	// The store is usable afterwards (no transaction or lock left behind).
	require.NoError(t, s.CreateCredential(ctx, newCredential("acme", "after", TypePassword)))
	n, err = s.ResealCredentials(ctx, func(c Credential) (string, []byte, error) {
		return "k3", []byte(fmt.Sprint("v3 ", c.Name)), nil
	})
	require.NoError(t, err)
	require.Equal(t, len(sealedIDs), n)
}
