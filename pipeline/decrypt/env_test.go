package decrypt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// keyring is a Keyring over fixed key lists.
type keyring struct {
	decrypt, verify openpgp.EntityList
	err             error
}

func (k keyring) DecryptionKeys(context.Context, string) (openpgp.EntityList, error) {
	return k.decrypt, k.err
}

func (k keyring) VerificationKeys(context.Context, string) (openpgp.EntityList, error) {
	return k.verify, k.err
}

// policy is a Policy with a fixed answer.
type policy struct {
	require bool
	err     error
}

func (p policy) RequireSignature(context.Context, string, string) (bool, error) {
	return p.require, p.err
}

// env is a Stage over a real blob.Dir in a temporary folder.
type env struct {
	dir   string
	blobs *blob.Dir
	stage *Stage
}

func newEnv(t testing.TB, cfg Config, keys keyring, pol policy) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir(), cfg, keys, pol)
}

// newEnvIn is newEnv with the blobs in dir.
func newEnvIn(t testing.TB, dir string, cfg Config, keys keyring, pol policy) *env {
	t.Helper()
	blobs, err := blob.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { blobs.Close() })
	s, err := New(cfg, blobs, keys, pol, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return &env{dir: dir, blobs: blobs, stage: s}
}

// put stores data as the upload name and returns its Object.
func (e *env) put(t testing.TB, name string, data []byte) pipeline.Object {
	t.Helper()
	const upload = "01JUPLOAD0000000000000000"
	key := upload + "/in-" + pipeline.ChildID(upload, "test", name)
	w, err := e.blobs.Create(context.Background(), key)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Commit())
	sum := sha256.Sum256(data)
	return pipeline.Object{
		ID: upload, UploadID: upload, Account: "acme", Feed: "orders", Name: name,
		Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
	}
}

// read returns the content of blob key.
func (e *env) read(t testing.TB, key string) []byte {
	t.Helper()
	rc, err := e.blobs.Open(context.Background(), key)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// files lists every file in the blob folder, temporary ones included.
func (e *env) files(t testing.TB) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	require.NoError(t, err)
	return names
}
