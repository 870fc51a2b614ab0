package credentials

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// testClock is a settable clock for Service.now, safe for concurrent use.
// Tests move it forward by milliseconds only: a key generated at its time
// must not be in gpg's future (OpenPGP times are whole seconds).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Now().UTC().Truncate(time.Microsecond)}
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *testClock) add(d time.Duration) { c.set(c.now().Add(d)) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// keyringService returns a Service on db sealing with vault, on clock, that
// logs everything (debug included) as JSON to logs.
func keyringService(t *testing.T, db *store.DB, vault *Vault, clock *testClock, logs io.Writer) *Service {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := NewService(Config{Argon2: DefaultArgon2, HomeDir: filepath.Join(t.TempDir(), "home"), MaxConcurrentHashes: 2},
		NewStore(db), vault, logger)
	require.NoError(t, err)
	svc.now = clock.now
	return svc
}

func newTestVault(t *testing.T, keys ...MasterKey) *Vault {
	t.Helper()
	if len(keys) == 0 {
		k, err := GenerateMasterKey()
		require.NoError(t, err)
		keys = []MasterKey{k}
	}
	v, err := NewVault(keys[0], keys[1:]...)
	require.NoError(t, err)
	return v
}

func genMasterKey(t *testing.T) MasterKey {
	t.Helper()
	k, err := GenerateMasterKey()
	require.NoError(t, err)
	return k
}

// forEachBackend runs fn on SQLite and, when a server answers, PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(testing.TB) *store.DB)) {
	t.Helper()
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open) })
	}
}

func createAccount(t *testing.T, svc *Service, names ...string) {
	t.Helper()
	for _, name := range names {
		_, err := svc.CreateAccount(t.Context(), Account{Name: name})
		require.NoError(t, err)
	}
}

func mustCreate(t *testing.T, svc *Service, account string, sp Spec) Credential {
	t.Helper()
	c, err := svc.CreateCredential(t.Context(), account, sp)
	require.NoError(t, err)
	return c
}

// gpgEncrypt has the real gpg encrypt msg to the armored public key
// publicKey with fingerprint fpr.
func gpgEncrypt(t *testing.T, g *gnupg, publicKey, fpr string, msg []byte) []byte {
	t.Helper()
	g.Must(t, []byte(publicKey), "--import")
	return g.Must(t, msg, "--encrypt", "--recipient", fpr, "--output", "-")
}

// decryptWithKeys decrypts msg with keys, without any passphrase prompt.
func decryptWithKeys(keys openpgp.EntityList, msg []byte) ([]byte, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), keys, nil, nil)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(md.UnverifiedBody)
}

func fingerprints(keys openpgp.EntityList) []string {
	fprs := make([]string, len(keys))
	for i, e := range keys {
		fprs[i] = strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	}
	return fprs
}

// requireUnlocked asserts that every private key of e that is not a stub is
// decrypted.
func requireUnlocked(t *testing.T, e *openpgp.Entity) {
	t.Helper()
	require.NotNil(t, e.PrivateKey)
	if !e.PrivateKey.Dummy() {
		require.False(t, e.PrivateKey.Encrypted, "primary key of %X still locked", e.PrimaryKey.Fingerprint)
	}
	for _, sk := range e.Subkeys {
		require.NotNil(t, sk.PrivateKey)
		require.False(t, sk.PrivateKey.Encrypted, "subkey %016X still locked", sk.PublicKey.KeyId)
	}
}

func TestDecryptionKeys(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *store.DB) {
		ctx := t.Context()
		clock := newTestClock()
		svc := keyringService(t, open(t), newTestVault(t), clock, io.Discard)
		createAccount(t, svc, "acme", "other", "empty")

		ed := mustCreate(t, svc, "acme", Spec{Name: "ed", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.edProtected), Passphrase: gpgPassphrase})
		clock.add(time.Millisecond)
		rsa := mustCreate(t, svc, "acme", Spec{Name: "a-rsa", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.rsaProtected), Passphrase: gpgPassphrase})
		clock.add(time.Millisecond)
		gen := mustCreate(t, svc, "acme", Spec{Name: "gen", Type: TypePGPPrivateKey, Generate: true})
		otherKey := mustCreate(t, svc, "other", Spec{Name: "ed", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.edPlain)})
		// Credentials of other types are not keys.
		mustCreate(t, svc, "acme", Spec{Name: "zip", Type: TypeZIPPassword, Password: "zip password"})
		mustCreate(t, svc, "acme", Spec{Name: "partner", Type: TypePGPPublicKey, ArmoredKey: Secret(keys.edPublic), Usage: "verify"})

		start := time.Now()
		first, err := svc.DecryptionKeys(ctx, "acme")
		cold := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, []string{ed.Fingerprint, rsa.Fingerprint, gen.Fingerprint}, fingerprints(first), "creation order, this account's keys only")
		require.EqualValues(t, 3, svc.keys.unlocks.Load())
		for _, e := range first {
			requireUnlocked(t, e)
		}

		start = time.Now()
		second, err := svc.DecryptionKeys(ctx, "acme")
		warm := time.Since(start)
		require.NoError(t, err)
		require.EqualValues(t, 3, svc.keys.unlocks.Load(), "the second call unlocks nothing")
		require.Equal(t, fingerprints(first), fingerprints(second))
		for i := range first {
			require.NotSame(t, first[i], second[i], "each call has its own entities")
			require.Same(t, first[i].PrivateKey, second[i].PrivateKey, "over the same unlocked key material")
		}
		t.Logf("DecryptionKeys of 3 keys (2 GnuPG-protected): cold %v, cached %v", cold, warm)

		// Real gpg encrypts to each key's public part, as a customer would.
		g := newGnuPG(t)
		for _, c := range []Credential{ed, rsa, gen} {
			msg := []byte("orders for " + c.Name + "\n")
			plain, err := decryptWithKeys(second, gpgEncrypt(t, g, c.PublicData, c.Fingerprint, msg))
			require.NoError(t, err, c.Name)
			require.Equal(t, msg, plain)
		}
		// The other account's key is not among them.
		_, err = decryptWithKeys(second, gpgEncrypt(t, g, otherKey.PublicData, otherKey.Fingerprint, []byte("x")))
		require.Error(t, err)

		none, err := svc.DecryptionKeys(ctx, "empty")
		require.NoError(t, err)
		require.NotNil(t, none)
		require.Empty(t, none)
		_, err = svc.DecryptionKeys(ctx, "ghost")
		require.ErrorIs(t, err, ErrNotFound)
		_, err = svc.DecryptionKeys(ctx, "")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

// TestDecryptionKeysConcurrent has callers race for a cold key: one unlock
// serves them all, and each decrypts with its own entities (-race).
func TestDecryptionKeysConcurrent(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	ctx := t.Context()
	svc := keyringService(t, storetest.SQLite(t), newTestVault(t), newTestClock(), io.Discard)
	createAccount(t, svc, "acme")
	c := mustCreate(t, svc, "acme", Spec{Name: "ed", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.edProtected), Passphrase: gpgPassphrase})
	msg := []byte("id,amount\n1,2\n")
	encrypted := gpgEncrypt(t, newGnuPG(t), c.PublicData, c.Fingerprint, msg)

	const n = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
		plain = make([][]byte, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			keys, err := svc.DecryptionKeys(ctx, "acme")
			if err != nil {
				errs[i] = err
				return
			}
			plain[i], errs[i] = decryptWithKeys(keys, encrypted)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, msg, plain[i])
	}
	require.EqualValues(t, 1, svc.keys.unlocks.Load(), "concurrent callers share one unlock")
}

// TestDecryptionKeysInvalidation changes, deletes, replaces and reseals a
// key, through this Service and behind its back (another Service on the same
// database, as another node): the cache never serves what is no longer
// stored.
func TestDecryptionKeysInvalidation(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *store.DB) {
		ctx := t.Context()
		db := open(t)
		clock := newTestClock()
		k1 := genMasterKey(t)
		svc := keyringService(t, db, newTestVault(t, k1), clock, io.Discard)
		node2 := keyringService(t, db, newTestVault(t, k1), clock, io.Discard)
		createAccount(t, svc, "acme")
		g := newGnuPG(t)

		// current asserts which key DecryptionKeys gives, and how many
		// unlocks it took so far.
		current := func(t *testing.T, want *Credential, unlocks int64) {
			t.Helper()
			got, err := svc.DecryptionKeys(ctx, "acme")
			require.NoError(t, err)
			require.EqualValues(t, unlocks, svc.keys.unlocks.Load(), "unlocks")
			if want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, []string{want.Fingerprint}, fingerprints(got))
			msg := []byte("for " + want.Fingerprint)
			plain, err := decryptWithKeys(got, gpgEncrypt(t, g, want.PublicData, want.Fingerprint, msg))
			require.NoError(t, err)
			require.Equal(t, msg, plain)
		}

		ed := mustCreate(t, svc, "acme", Spec{Name: "key", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.edProtected), Passphrase: gpgPassphrase})
		current(t, &ed, 1)
		current(t, &ed, 1)

		desc := "rotated yearly"
		_, err := svc.UpdateCredential(ctx, "acme", "key", CredentialPatch{Description: &desc})
		require.NoError(t, err)
		require.Zero(t, svc.keys.len(), "an update drops the entry")
		current(t, &ed, 2)

		require.NoError(t, svc.DeleteCredential(ctx, "acme", "key"))
		require.Zero(t, svc.keys.len(), "a delete drops the entry")
		current(t, nil, 2)

		// Same name, another key.
		rsa := mustCreate(t, svc, "acme", Spec{Name: "key", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.rsaProtected), Passphrase: gpgPassphrase})
		current(t, &rsa, 3)

		// Another node deletes it and creates the ed key again under the
		// same name: this node's cache holds the RSA key still, but never
		// serves it.
		require.NoError(t, node2.DeleteCredential(ctx, "acme", "key"))
		current(t, nil, 3)
		ed = mustCreate(t, node2, "acme", Spec{Name: "key", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.edProtected), Passphrase: gpgPassphrase})
		current(t, &ed, 4)

		// Master-key rotation through this Service: the cache is emptied,
		// and the key unlocks from the resealed secret, which only the new
		// master key opens.
		k2 := genMasterKey(t)
		svc.vault = newTestVault(t, k2, k1)
		n, err := svc.Reseal(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Zero(t, svc.keys.len(), "a reseal empties the cache")
		svc.vault = newTestVault(t, k2)
		current(t, &ed, 5)
		current(t, &ed, 5)

		// Rotation by another node: the sealed secret changed, so this node
		// does not serve its cached key but opens the new one, which it
		// cannot until it has the new master key.
		k3 := genMasterKey(t)
		node2.vault = newTestVault(t, k3, k2)
		_, err = node2.Reseal(ctx)
		require.NoError(t, err)
		_, err = svc.DecryptionKeys(ctx, "acme")
		require.ErrorIs(t, err, ErrUnknownKey)
		require.ErrorContains(t, err, `credential "key"`)
		svc.vault = newTestVault(t, k3)
		current(t, &ed, 7)

		// Deleting the account drops its keys.
		require.NoError(t, svc.DeleteAccount(ctx, "acme"))
		require.Zero(t, svc.keys.len())
	})
}

// TestDecryptionKeysCacheBounds checks the cache's idle TTL, its sweep and
// its size bound.
func TestDecryptionKeysCacheBounds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newTestClock()
	svc := keyringService(t, storetest.SQLite(t), newTestVault(t), clock, io.Discard)
	svc.keys.ttl = time.Minute
	createAccount(t, svc, "acme", "idle")
	for _, name := range []string{"one", "two"} {
		mustCreate(t, svc, "acme", Spec{Name: name, Type: TypePGPPrivateKey, Generate: true})
	}
	mustCreate(t, svc, "idle", Spec{Name: "one", Type: TypePGPPrivateKey, Generate: true})
	call := func(account string, unlocks int64) {
		t.Helper()
		_, err := svc.DecryptionKeys(ctx, account)
		require.NoError(t, err)
		require.EqualValues(t, unlocks, svc.keys.unlocks.Load())
	}

	call("idle", 1)
	call("acme", 3)
	require.Equal(t, 3, svc.keys.len())
	clock.add(50 * time.Second)
	call("acme", 3) // used again: acme's keys stay
	clock.add(50 * time.Second)
	call("acme", 3) // idle's key, unused for 100s, is swept
	require.Equal(t, 2, svc.keys.len())
	clock.add(61 * time.Second)
	call("acme", 5) // unused for longer than the TTL: unlocked again

	svc.keys.maxEntries = 1
	svc.keys.forgetAll()
	call("acme", 7)
	require.Equal(t, 1, svc.keys.len(), "at most maxEntries")
}

// TestDecryptionKeysExpiry: a credential past its expires_at is left out; a
// key expired as an OpenPGP key is kept, with a warning.
func TestDecryptionKeysExpiry(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	ctx := t.Context()
	clock := newTestClock()
	var logs syncBuffer
	svc := keyringService(t, storetest.SQLite(t), newTestVault(t), clock, &logs)
	createAccount(t, svc, "acme")
	now := clock.now()

	retired := mustCreate(t, svc, "acme", Spec{Name: "retired", Type: TypePGPPrivateKey, Generate: true, ExpiresAt: ptr(now.Add(time.Hour))})
	// The key expired on 2020-01-02 (made with gpg --faked-system-time);
	// it was imported while it was valid.
	clock.set(time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC))
	old := mustCreate(t, svc, "acme", Spec{Name: "old", Type: TypePGPPrivateKey, ArmoredKey: Secret(keys.expiredSecret)})
	clock.set(now)

	got, err := svc.DecryptionKeys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []string{old.Fingerprint, retired.Fingerprint}, fingerprints(got))
	const warning = `"level":"WARN","msg":"decryption key is not valid now; still used to decrypt what was encrypted to it","component":"credentials","account":"acme","credential":"old"`
	require.Contains(t, logs.String(), warning)
	require.Contains(t, logs.String(), `"reason":"the key expired on 2020-01-02"`)
	require.Equal(t, 1, strings.Count(logs.String(), `"level":"WARN"`), "one warning, for the expired key only")

	// What a customer encrypted to the key while it was valid decrypts.
	g := newGnuPG(t)
	g.Must(t, []byte(old.PublicData), "--import")
	msg := []byte("sent on new year's day 2020\n")
	encrypted := g.Must(t, msg, "--faked-system-time", "20200101T120000!", "--encrypt", "--recipient", old.Fingerprint, "--output", "-")
	plain, err := decryptWithKeys(got, encrypted)
	require.NoError(t, err)
	require.Equal(t, msg, plain)

	clock.add(2 * time.Hour)
	got, err = svc.DecryptionKeys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []string{old.Fingerprint}, fingerprints(got), "past its expires_at, the credential is left out")
	plain, err = decryptWithKeys(got, encrypted)
	require.NoError(t, err, "the cached key too")
	require.Equal(t, msg, plain)
}

func TestVerificationKeys(t *testing.T) {
	t.Parallel()
	keys := loadGPGKeys(t)
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *store.DB) {
		ctx := t.Context()
		clock := newTestClock()
		svc := keyringService(t, open(t), newTestVault(t), clock, io.Discard)
		createAccount(t, svc, "acme", "other")
		rsaPub, err := ParsePGPPrivateKey(keys.rsaPlain, "", clock.now())
		require.NoError(t, err)

		partner := mustCreate(t, svc, "acme", Spec{Name: "partner", Type: TypePGPPublicKey, ArmoredKey: Secret(keys.edPublic), Usage: "verify"})
		clock.add(time.Millisecond)
		mustCreate(t, svc, "acme", Spec{Name: "b-encrypt", Type: TypePGPPublicKey, ArmoredKey: Secret(rsaPub.Public), Usage: "encrypt"})
		clock.add(time.Millisecond)
		signer := mustCreate(t, svc, "acme", Spec{Name: "a-signer", Type: TypePGPPublicKey, ArmoredKey: Secret(keys.signOnlyPublic), Usage: "verify"})
		clock.add(time.Millisecond)
		retired := mustCreate(t, svc, "acme", Spec{Name: "retired", Type: TypePGPPublicKey, ArmoredKey: Secret(rsaPub.Public), Usage: "verify",
			ExpiresAt: ptr(clock.now().Add(time.Minute))})
		mustCreate(t, svc, "acme", Spec{Name: "own", Type: TypePGPPrivateKey, Generate: true})
		mustCreate(t, svc, "other", Spec{Name: "partner", Type: TypePGPPublicKey, ArmoredKey: Secret(rsaPub.Public), Usage: "verify"})

		got, err := svc.VerificationKeys(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, []string{partner.Fingerprint, signer.Fingerprint, retired.Fingerprint}, fingerprints(got))
		for _, e := range got {
			require.Nil(t, e.PrivateKey)
		}
		clock.add(2 * time.Minute)
		got, err = svc.VerificationKeys(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, []string{partner.Fingerprint, signer.Fingerprint}, fingerprints(got), "past its expires_at, left out")

		// A file signed by the partner with the real gpg verifies.
		g := newGnuPG(t)
		g.Must(t, []byte(keys.edPlain), "--import")
		msg := []byte("id\n1\n")
		signed := g.Must(t, msg, "--sign", "--local-user", keys.edFpr, "--output", "-")
		md, err := openpgp.ReadMessage(bytes.NewReader(signed), got, nil, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(md.UnverifiedBody)
		require.NoError(t, err)
		require.Equal(t, msg, body)
		require.True(t, md.IsSigned)
		require.NoError(t, md.SignatureError)
		require.NotNil(t, md.SignedBy)

		none, err := svc.VerificationKeys(ctx, "other")
		require.NoError(t, err)
		require.Len(t, none, 1)
		_, err = svc.VerificationKeys(ctx, "ghost")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

func TestZipPasswords(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *store.DB) {
		ctx := t.Context()
		clock := newTestClock()
		svc := keyringService(t, open(t), newTestVault(t), clock, io.Discard)
		createAccount(t, svc, "acme", "other", "empty")

		// Created in the opposite order of their names.
		mustCreate(t, svc, "acme", Spec{Name: "z-first", Type: TypeZIPPassword, Password: "first password"})
		clock.add(time.Millisecond)
		mustCreate(t, svc, "acme", Spec{Name: "m-second", Type: TypeZIPPassword, Password: "second password"})
		clock.add(time.Millisecond)
		mustCreate(t, svc, "acme", Spec{Name: "a-third", Type: TypeZIPPassword, Password: "third password", ExpiresAt: ptr(clock.now().Add(time.Hour))})
		mustCreate(t, svc, "acme", Spec{Name: "login", Type: TypePassword, Password: "not a zip password 1"})
		mustCreate(t, svc, "other", Spec{Name: "zip", Type: TypeZIPPassword, Password: "other password"})

		got, err := svc.ZipPasswords(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, []string{"first password", "second password", "third password"}, got, "creation order")
		clock.add(2 * time.Hour)
		got, err = svc.ZipPasswords(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, []string{"first password", "second password"}, got, "past its expires_at, left out")

		none, err := svc.ZipPasswords(ctx, "empty")
		require.NoError(t, err)
		require.NotNil(t, none)
		require.Empty(t, none)
		_, err = svc.ZipPasswords(ctx, "ghost")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

// plantCredential stores a pgp-private-key or zip-password credential whose
// sealed plaintext is given as is, bypassing the Service's checks: stored
// data that no longer makes sense.
func plantCredential(t *testing.T, svc *Service, account, name string, typ Type, plaintext []byte) Credential {
	t.Helper()
	now := svc.now()
	c := Credential{ID: newID(), Account: account, Name: name, Type: typ, CreatedAt: now, UpdatedAt: now}
	var err error
	c.KeyID, c.Sealed, err = svc.vault.Seal(plaintext, aad(c))
	require.NoError(t, err)
	require.NoError(t, svc.store.CreateCredential(t.Context(), c))
	return c
}

// TestKeyringNeverLeaksSecrets plants recognisable passphrases, zip
// passwords and key material, drives DecryptionKeys and ZipPasswords through
// success and every failure, and searches the errors and the debug log for
// them.
func TestKeyringNeverLeaksSecrets(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	random := func(prefix string) string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return prefix + hex.EncodeToString(b)
	}
	var (
		passphrase = random("planted-passphrase-")
		wrongPass  = random("planted-wrong-passphrase-")
		zipPass    = random("planted-zip-password-")
		notJSON    = random("planted-not-json-")
	)

	g := newGnuPG(t)
	fpr, err := g.generate(ctx, "Planted <planted@example.test>", "ed25519", "cert,sign", "cv25519", "never", passphrase)
	require.NoError(t, err)
	armored, err := g.exportSecret(ctx, passphrase, fpr)
	require.NoError(t, err)
	// A line of the key's base64 body: key material, encrypted or not.
	lines := strings.Split(strings.TrimSpace(armored), "\n")
	keyLine := lines[len(lines)/2]
	require.Greater(t, len(keyLine), 40)
	secrets := []string{passphrase, wrongPass, zipPass, notJSON, keyLine}

	clock := newTestClock()
	var logs syncBuffer
	db := storetest.SQLite(t)
	k1 := genMasterKey(t)
	svc := keyringService(t, db, newTestVault(t, k1), clock, &logs)
	createAccount(t, svc, "good", "wrongpass", "notjson", "tampered", "notakey")

	mustCreate(t, svc, "good", Spec{Name: "pgp", Type: TypePGPPrivateKey, ArmoredKey: Secret(armored), Passphrase: Secret(passphrase)})
	mustCreate(t, svc, "good", Spec{Name: "zip", Type: TypeZIPPassword, Password: Secret(zipPass)})
	wrong, err := json.Marshal(sealedPGPKey{ArmoredKey: armored, Passphrase: wrongPass})
	require.NoError(t, err)
	plantCredential(t, svc, "wrongpass", "pgp", TypePGPPrivateKey, wrong)
	plantCredential(t, svc, "notjson", "pgp", TypePGPPrivateKey, []byte(notJSON+passphrase))
	notAKey, err := json.Marshal(sealedPGPKey{ArmoredKey: strings.Replace(armored, keyLine, strings.Repeat("A", len(keyLine)), 1), Passphrase: passphrase})
	require.NoError(t, err)
	plantCredential(t, svc, "notakey", "pgp", TypePGPPrivateKey, notAKey)
	tampered := plantCredential(t, svc, "tampered", "zip", TypeZIPPassword, []byte(zipPass))
	tampered.Sealed[len(tampered.Sealed)-1] ^= 1
	_, err = db.ExecContext(ctx, `UPDATE credentials SET sealed = $1 WHERE id = $2`, tampered.Sealed, tampered.ID)
	require.NoError(t, err)

	// Success: keys unlock, passwords open.
	keys, err := svc.DecryptionKeys(ctx, "good")
	require.NoError(t, err)
	require.Len(t, keys, 1)
	requireUnlocked(t, keys[0])
	zips, err := svc.ZipPasswords(ctx, "good")
	require.NoError(t, err)
	require.Equal(t, []string{zipPass}, zips)

	decryptionKeys := func(account string) error {
		_, err := svc.DecryptionKeys(ctx, account)
		return err
	}
	zipPasswords := func(account string) error {
		_, err := svc.ZipPasswords(ctx, account)
		return err
	}
	var errs []error
	for _, tc := range []struct {
		account string
		call    func(account string) error
		is      error  // nil: any error
		text    string // in the error
	}{
		{"wrongpass", decryptionKeys, nil, `decryption key "pgp" of account "wrongpass": the stored passphrase does not unlock it`},
		{"notjson", decryptionKeys, nil, `decryption key "pgp" of account "notjson": the sealed key is not in the stored format`},
		{"notakey", decryptionKeys, nil, `decryption key "pgp" of account "notakey": `},
		{"tampered", zipPasswords, ErrDecrypt, `credential "zip"`},
	} {
		err := tc.call(tc.account)
		require.Error(t, err, tc.account)
		if tc.is != nil {
			require.ErrorIs(t, err, tc.is)
		}
		require.ErrorContains(t, err, tc.text)
		errs = append(errs, err)
	}

	// A node without the master key.
	stranger := keyringService(t, db, newTestVault(t), clock, &logs)
	_, err = stranger.DecryptionKeys(ctx, "good")
	require.ErrorIs(t, err, ErrUnknownKey)
	errs = append(errs, err)
	_, err = stranger.ZipPasswords(ctx, "good")
	require.ErrorIs(t, err, ErrUnknownKey)
	errs = append(errs, err)

	require.NotEmpty(t, logs.String(), "the debug log is searched too")
	for _, s := range secrets {
		for _, err := range errs {
			require.NotContains(t, err.Error(), s)
			var ve *ValidationError
			require.False(t, errors.As(err, &ve), "stored data is not the caller's bad input: %v", err)
		}
		require.NotContains(t, logs.String(), s)
	}
}

// TestDecryptionKeysKeepNoVerdictOfNow: go-crypto records in an entity
// whether each signature is valid at the date it is first asked about. A key
// whose self-signature has expired (a signature lifetime, which GnuPG does not
// set, so go-crypto makes the key) must still decrypt what was encrypted to it
// before: the check for the warning must not leave its verdict of now in the
// cached entity.
func TestDecryptionKeysKeepNoVerdictOfNow(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	made := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	sent := made.Add(12 * time.Hour)
	cfg := &packet.Config{Time: func() time.Time { return made }, Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	e, err := openpgp.NewEntity("Short Signature", "", "short@example.test", cfg)
	require.NoError(t, err)
	day := uint32(24 * 60 * 60)
	for _, id := range e.Identities {
		for _, sig := range id.SelfCertifications {
			sig.Packet.SigLifetimeSecs = &day // re-signed by SerializePrivate
		}
	}
	var armored bytes.Buffer
	w, err := armor.Encode(&armored, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.SerializePrivate(w, cfg))
	require.NoError(t, w.Close())

	clock := newTestClock()
	var logs syncBuffer
	svc := keyringService(t, storetest.SQLite(t), newTestVault(t), clock, &logs)
	createAccount(t, svc, "acme")
	now := clock.now()
	clock.set(sent)
	c := mustCreate(t, svc, "acme", Spec{Name: "short", Type: TypePGPPrivateKey, ArmoredKey: Secret(armored.String())})
	clock.set(now)

	// Encrypted by its sender while the self-signature was valid.
	pub, err := openpgp.ReadArmoredKeyRing(strings.NewReader(c.PublicData))
	require.NoError(t, err)
	var encrypted bytes.Buffer
	pw, err := openpgp.Encrypt(&encrypted, pub, nil, nil, nil, &packet.Config{Time: func() time.Time { return sent }})
	require.NoError(t, err)
	msg := []byte("id\n1\n")
	_, err = pw.Write(msg)
	require.NoError(t, err)
	require.NoError(t, pw.Close())

	for range 2 { // unlocked, then cached
		keys, err := svc.DecryptionKeys(ctx, "acme")
		require.NoError(t, err)
		plain, err := decryptWithKeys(keys, encrypted.Bytes())
		require.NoError(t, err)
		require.Equal(t, msg, plain)
	}
	require.EqualValues(t, 1, svc.keys.unlocks.Load())
	require.Contains(t, logs.String(), `"msg":"decryption key is not valid now; still used to decrypt what was encrypted to it"`)
}
