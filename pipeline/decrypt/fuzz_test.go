package decrypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

var update = flag.Bool("update", false, "make testdata/seeds again with GnuPG")

// The fuzzing seeds: GnuPG-made messages, binary and armored, to the key in
// testdata/seeds/account.asc, with the outcome Process must reach. They are
// files, made once with -update, because fuzzing restarts its worker
// processes too often to make keys in each.
var seeds = []struct {
	file string
	args []string // of gpg, to make it
	want error
}{
	{"zlib.gpg", []string{"-r", uidEd, "-e"}, nil},
	{"uncompressed.gpg", []string{"-r", uidEd, "--compress-algo", "none", "-e"}, nil},
	{"zip.gpg", []string{"-r", uidEd, "--compress-algo", "zip", "-e"}, nil},
	{"bzip2.gpg", []string{"-r", uidEd, "--compress-algo", "bzip2", "-e"}, nil},
	{"armored.asc", []string{"-r", uidEd, "--armor", "-e"}, nil},
	{"hidden.gpg", []string{"--hidden-recipient", uidEd, "-e"}, nil},
	{"signed.gpg", []string{"-u", uidSigner, "-r", uidEd, "--sign", "-e"}, nil},
	{"signed-armored.asc", []string{"-u", uidSigner, "-r", uidEd, "--armor", "--sign", "-e"}, nil},
	{"signed-only.gpg", []string{"-u", uidSigner, "--sign"}, nil},
	{"signed-stranger.gpg", []string{"-u", uidStranger, "-r", uidEd, "--sign", "-e"}, nil},
	{"other.gpg", []string{"-r", uidOther, "-e"}, ErrNoMatchingKey},
	{"symmetric.gpg", []string{"--passphrase", "x", "--symmetric"}, ErrPassphraseOnly},
	{"no-mdc.gpg", []string{"-r", uidEd, "--rfc2440", "--cipher-algo", "CAST5", "-e"}, ErrNoIntegrity},
}

// seedPlain is the content of the seeds.
var seedPlain = []byte(strings.Repeat("id,name,amount\n1,alpha,1.50\n2,beta,-3\n", 20))

// seedEnv returns a Stage with the seeds' keys and its blobs in blobDir, and
// the seeds.
func seedEnv(t testing.TB, blobDir string, cfg Config) (*env, map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "seeds")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return b
	}
	account, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(read("account.asc")))
	require.NoError(t, err)
	signer, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(read("signer.asc")))
	require.NoError(t, err)
	msgs := map[string][]byte{}
	for _, s := range seeds {
		msgs[s.file] = read(s.file)
	}
	return newEnvIn(t, blobDir, cfg, keyring{decrypt: account, verify: signer}, policy{}), msgs
}

// TestSeeds checks the fuzzing seeds decrypt as they should; with -update it
// makes them again with GnuPG first.
func TestSeeds(t *testing.T) {
	if *update {
		makeSeeds(t)
	}
	e, msgs := seedEnv(t, t.TempDir(), DefaultConfig())
	for _, s := range seeds {
		t.Run(s.file, func(t *testing.T) {
			outs, err := e.stage.Process(t.Context(), e.put(t, s.file, msgs[s.file]))
			if s.want != nil {
				require.ErrorIs(t, err, s.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, seedPlain, e.read(t, outs[0].Key))
		})
	}
}

// makeSeeds writes testdata/seeds with GnuPG.
func makeSeeds(t *testing.T) {
	g, err := openGnuPG()
	require.NoError(t, err)
	defer g.Close()
	ctx := t.Context()
	fprs := map[string]string{}
	for _, k := range []struct{ uid, sub string }{{uidEd, "cv25519"}, {uidOther, "cv25519"}, {uidSigner, ""}, {uidStranger, ""}} {
		fprs[k.uid], err = g.generate(ctx, k.uid, "ed25519", k.sub)
		require.NoError(t, err)
	}
	dir := filepath.Join("testdata", "seeds")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name string, b []byte) { require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644)) }
	out, err := g.Run(ctx, nil, "--passphrase", "", "--armor", "--export-secret-keys", fprs[uidEd])
	require.NoError(t, err)
	write("account.asc", out)
	out, err = g.Run(ctx, nil, "--armor", "--export", fprs[uidSigner])
	require.NoError(t, err)
	write("signer.asc", out)
	plain := filepath.Join(g.Dir, "orders.csv")
	require.NoError(t, os.WriteFile(plain, seedPlain, 0o600))
	for _, s := range seeds {
		out, err := g.Run(ctx, nil, append(append([]string{"-o", "-"}, s.args...), plain)...)
		require.NoError(t, err)
		write(s.file, out)
	}
}

// FuzzProcess feeds Process arbitrary files, seeded with GnuPG-made
// messages, a CRLF-armored one, a truncated and a tampered one: whatever the
// input, Process either writes exactly the plaintext it returns, or rejects
// the file with a permanent error and leaves nothing behind.
func FuzzProcess(f *testing.F) {
	cfg := DefaultConfig()
	cfg.MaxOutputBytes = 4 << 20
	// On tmpfs, if there is one, committing a blob costs no disk flush.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "decrypt-fuzz"); err == nil {
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	e, msgs := seedEnv(f, dir, cfg)
	for _, s := range seeds {
		f.Add(msgs[s.file])
	}
	f.Add(crlf(msgs["armored.asc"]))
	// GnuPG-made messages damaged as uploads are: cut short, a byte flipped.
	signed := msgs["signed.gpg"]
	f.Add(signed[:len(signed)/2])
	f.Add(flip(signed))
	f.Fuzz(func(t *testing.T, msg []byte) {
		in := e.put(t, "fuzz.gpg", msg)
		out := in.UploadID + "/" + pipeline.ChildID(in.ID, Name, outputEntry)
		outs, err := e.stage.Process(context.Background(), in)
		if err != nil {
			require.True(t, pipeline.IsPermanent(err), "bad input must be a permanent error: %v", err)
			require.Equal(t, []string{in.Key}, e.files(t), "left behind")
			return
		}
		require.Len(t, outs, 1)
		require.Equal(t, out, outs[0].Key)
		got := e.read(t, out)
		sum := sha256.Sum256(got)
		require.Equal(t, hex.EncodeToString(sum[:]), outs[0].SHA256)
		require.Equal(t, int64(len(got)), outs[0].Size)
		require.NoError(t, e.blobs.Remove(context.Background(), out))
	})
}
