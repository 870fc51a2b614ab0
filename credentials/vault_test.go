package credentials

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// newTestKey returns a random master key.
func newTestKey(t *testing.T) MasterKey {
	t.Helper()
	k, err := GenerateMasterKey()
	require.NoError(t, err)
	return k
}

func TestMasterKeyID(t *testing.T) {
	raw := bytes.Repeat([]byte{0x42}, 32)
	k, err := ParseMasterKey(base64.StdEncoding.EncodeToString(raw))
	require.NoError(t, err)
	sum := sha256.Sum256(append([]byte("sluice master key id"), raw...))
	require.Equal(t, "k"+hex.EncodeToString(sum[:8]), k.ID)
	require.Regexp(t, `^k[0-9a-f]{16}$`, newTestKey(t).ID)
	require.NotEqual(t, newTestKey(t).ID, newTestKey(t).ID)
}

func TestParseMasterKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	good := base64.StdEncoding.EncodeToString(raw)
	tests := []struct {
		name  string
		input string
		err   string // "" means valid
	}{
		{name: "std base64", input: good},
		{name: "surrounding white space", input: "  " + good + "\n"},
		{name: "empty", input: "", err: "decodes to 0 bytes, want 32"},
		{name: "31 bytes", input: base64.StdEncoding.EncodeToString(raw[:31]), err: "decodes to 31 bytes, want 32"},
		{name: "33 bytes", input: base64.StdEncoding.EncodeToString(append(raw, 1)), err: "decodes to 33 bytes, want 32"},
		{name: "unpadded", input: base64.RawStdEncoding.EncodeToString(raw), err: "not valid standard base64"},
		{name: "url alphabet", input: base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), err: "not valid standard base64"},
		{name: "garbage", input: "this is not a key, it is a sentence", err: "not valid standard base64"},
		{name: "hex", input: hex.EncodeToString(raw), err: "looks like hex; want standard base64 of 32 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseMasterKey(tc.input)
			if tc.err == "" {
				require.NoError(t, err)
				require.Equal(t, good, k.Base64())
				return
			}
			require.ErrorContains(t, err, tc.err)
			if tc.input != "" {
				require.NotContains(t, err.Error(), strings.TrimSpace(tc.input))
			}
		})
	}
}

func TestMasterKeyNeverPrintsKey(t *testing.T) {
	k := newTestKey(t)
	secrets := []string{k.Base64(), hex.EncodeToString(k.key), fmt.Sprint(k.key)}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "key", k, "keys", []MasterKey{k})
	outputs := []string{logged.String()}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%08b"} {
		outputs = append(outputs, fmt.Sprintf(format, k), fmt.Sprintf(format, []MasterKey{k}), fmt.Sprintf(format, &k))
	}
	for _, out := range outputs {
		require.Contains(t, out, k.ID)
		for _, secret := range secrets {
			require.NotContains(t, out, secret)
		}
	}
	require.Equal(t, "master key "+k.ID, k.String())
}

func TestVaultSealOpen(t *testing.T) {
	v, err := NewVault(newTestKey(t))
	require.NoError(t, err)
	aad := []byte("credential/acme/zip")
	for _, plaintext := range [][]byte{nil, []byte("s3cret zip password"), bytes.Repeat([]byte{0xAB}, 1<<16)} {
		t.Run(fmt.Sprintf("%d bytes", len(plaintext)), func(t *testing.T) {
			keyID, sealed, err := v.Seal(plaintext, aad)
			require.NoError(t, err)
			require.Equal(t, v.PrimaryID(), keyID)
			require.Len(t, sealed, 12+len(plaintext)+16, "nonce || ciphertext || tag")
			if len(plaintext) > 0 {
				require.False(t, bytes.Contains(sealed, plaintext))
			}

			got, err := v.Open(keyID, sealed, aad)
			require.NoError(t, err)
			require.Equal(t, len(plaintext), len(got))
			require.True(t, bytes.Equal(plaintext, got))

			_, again, err := v.Seal(plaintext, aad)
			require.NoError(t, err)
			require.NotEqual(t, sealed, again, "every seal has a fresh nonce")
		})
	}
}

func TestVaultOpenFailures(t *testing.T) {
	v, err := NewVault(newTestKey(t))
	require.NoError(t, err)
	plaintext := []byte("the secret value")
	aad := []byte("credential/acme/zip")
	keyID, sealed, err := v.Seal(plaintext, aad)
	require.NoError(t, err)
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		keyID  string
		sealed []byte
		aad    []byte
		want   error
	}{
		{"wrong aad", keyID, sealed, []byte("credential/acme/other"), ErrDecrypt},
		{"no aad", keyID, sealed, nil, ErrDecrypt},
		{"tampered nonce", keyID, flip(0), aad, ErrDecrypt},
		{"tampered ciphertext", keyID, flip(12), aad, ErrDecrypt},
		{"tampered tag", keyID, flip(len(sealed) - 1), aad, ErrDecrypt},
		{"truncated", keyID, sealed[:len(sealed)-1], aad, ErrDecrypt},
		{"shorter than a nonce", keyID, sealed[:5], aad, ErrDecrypt},
		{"empty", keyID, nil, aad, ErrDecrypt},
		{"extended", keyID, append(bytes.Clone(sealed), 0), aad, ErrDecrypt},
		{"unknown key", "k0000000000000000", sealed, aad, ErrUnknownKey},
		{"no key id", "", sealed, aad, ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Open(tc.keyID, tc.sealed, tc.aad)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, got)
			require.NotContains(t, err.Error(), string(plaintext))
			require.NotContains(t, err.Error(), string(aad))
		})
	}
}

func TestVaultRotation(t *testing.T) {
	oldKey, newKey := newTestKey(t), newTestKey(t)
	before, err := NewVault(oldKey)
	require.NoError(t, err)
	oldID, oldSealed, err := before.Seal([]byte("sealed before rotation"), []byte("aad"))
	require.NoError(t, err)
	require.Equal(t, oldKey.ID, oldID)

	after, err := NewVault(newKey, oldKey)
	require.NoError(t, err)
	require.Equal(t, newKey.ID, after.PrimaryID())
	require.Equal(t, []string{newKey.ID, oldKey.ID}, after.KeyIDs())

	got, err := after.Open(oldID, oldSealed, []byte("aad"))
	require.NoError(t, err, "the rotated vault opens what the old key sealed")
	require.Equal(t, "sealed before rotation", string(got))

	newID, newSealed, err := after.Seal([]byte("sealed after rotation"), []byte("aad"))
	require.NoError(t, err)
	require.Equal(t, newKey.ID, newID, "new secrets are sealed under the new primary")

	_, err = before.Open(newID, newSealed, []byte("aad"))
	require.ErrorIs(t, err, ErrUnknownKey)
	require.ErrorContains(t, err, newID)

	// A ciphertext relabelled with another loaded key's ID fails authentication.
	_, err = after.Open(newID, oldSealed, []byte("aad"))
	require.ErrorIs(t, err, ErrDecrypt)
}

func TestNewVault(t *testing.T) {
	k := newTestKey(t)
	t.Run("duplicates load once", func(t *testing.T) {
		v, err := NewVault(k, k, k)
		require.NoError(t, err)
		require.Equal(t, []string{k.ID}, v.KeyIDs())
	})
	t.Run("zero primary", func(t *testing.T) {
		_, err := NewVault(MasterKey{})
		require.ErrorContains(t, err, "master key 0 is not set")
	})
	t.Run("zero older key", func(t *testing.T) {
		_, err := NewVault(k, MasterKey{})
		require.ErrorContains(t, err, "master key 1 is not set")
	})
}

func TestVaultConcurrent(t *testing.T) {
	v, err := NewVault(newTestKey(t), newTestKey(t))
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				msg := fmt.Appendf(nil, "secret %d/%d", i, j)
				id, sealed, err := v.Seal(msg, msg)
				if err == nil {
					var got []byte
					if got, err = v.Open(id, sealed, msg); err == nil && !bytes.Equal(got, msg) {
						err = fmt.Errorf("got %q, want %q", got, msg)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// writeFile writes content to dir/name with exactly mode perm.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), perm))
	require.NoError(t, os.Chmod(path, perm)) // regardless of umask
	return path
}

func TestLoadKeyFile(t *testing.T) {
	k1, k2 := newTestKey(t), newTestKey(t)
	twoKeys := "# primary first\n" + k1.Base64() + "\n\n  # older\n  " + k2.Base64() + "  \n"
	tests := []struct {
		name    string
		content string
		perm    os.FileMode
		want    []string // key IDs
		err     []string // substrings of the error
	}{
		{name: "one key", content: k1.Base64() + "\n", perm: 0o600, want: []string{k1.ID}},
		{name: "no final newline", content: k1.Base64(), perm: 0o600, want: []string{k1.ID}},
		{name: "comments and blanks", content: twoKeys, perm: 0o600, want: []string{k1.ID, k2.ID}},
		{name: "read-only for owner", content: twoKeys, perm: 0o400, want: []string{k1.ID, k2.ID}},
		{name: "repeated key", content: k1.Base64() + "\n" + k1.Base64() + "\n", perm: 0o600, want: []string{k1.ID}},
		{name: "world readable", content: twoKeys, perm: 0o644, err: []string{"master.key", "0644", "chmod 600", "group or others"}},
		{name: "group readable", content: twoKeys, perm: 0o640, err: []string{"0640", "chmod 600"}},
		{name: "others writable", content: twoKeys, perm: 0o602, err: []string{"0602", "chmod 600"}},
		{name: "empty", content: "", perm: 0o600, err: []string{"no keys"}},
		{name: "only comments", content: "# nothing\n\n", perm: 0o600, err: []string{"no keys"}},
		{name: "bad line", content: k1.Base64() + "\nnot-a-key-at-all\n", perm: 0o600, err: []string{"line 2", "not valid standard base64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "master.key", tc.content, tc.perm)
			keys, err := LoadKeyFile(path)
			if len(tc.err) > 0 {
				for _, s := range tc.err {
					require.ErrorContains(t, err, s)
				}
				require.NotContains(t, err.Error(), k1.Base64())
				require.NotContains(t, err.Error(), "not-a-key-at-all")
				if tc.perm&0o077 != 0 {
					require.ErrorIs(t, err, ErrKeyFilePermissions)
				}
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.ID)
			}
			require.Equal(t, tc.want, ids)
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := LoadKeyFile(filepath.Join(t.TempDir(), "master.key"))
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.Mkdir(dir, 0o700))
		_, err := LoadKeyFile(dir)
		require.ErrorContains(t, err, "not a regular file")
	})
	t.Run("too large", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "master.key", strings.Repeat("#\n", 40<<10), 0o600)
		_, err := LoadKeyFile(path)
		require.ErrorContains(t, err, "larger than")
	})
}

func TestWriteKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	k1, k2 := newTestKey(t), newTestKey(t)

	require.NoError(t, WriteKeyFile(path, []MasterKey{k1}))
	requireMode(t, path, 0o600)

	// Rotation: the new key first, the old one kept.
	require.NoError(t, WriteKeyFile(path, []MasterKey{k2, k1}))
	requireMode(t, path, 0o600)
	keys, err := LoadKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, []string{k2.Base64(), k1.Base64()}, []string{keys[0].Base64(), keys[1].Base64()})

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")

	require.ErrorContains(t, WriteKeyFile(path, nil), "no keys")
	require.ErrorContains(t, WriteKeyFile(path, []MasterKey{{ID: "kfake"}}), "not set")
	keys, err = LoadKeyFile(path)
	require.NoError(t, err)
	require.Len(t, keys, 2, "a failed write leaves the file alone")
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, fi.Mode().Perm())
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Run("created on first start", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "master.key")
		keys, created, err := LoadOrCreateKeyFile(path)
		require.NoError(t, err)
		require.True(t, created)
		require.Len(t, keys, 1)
		requireMode(t, path, 0o600)
		requireMode(t, dir, 0o700)

		again, created, err := LoadOrCreateKeyFile(path)
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, keys[0].Base64(), again[0].Base64())

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file is left behind")
	})
	t.Run("insecure existing file is refused, not replaced", func(t *testing.T) {
		k := newTestKey(t)
		path := writeFile(t, t.TempDir(), "master.key", k.Base64()+"\n", 0o644)
		_, _, err := LoadOrCreateKeyFile(path)
		require.ErrorIs(t, err, ErrKeyFilePermissions)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, k.Base64()+"\n", string(data))
	})
	t.Run("empty existing file is refused, not replaced", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "master.key", "", 0o600)
		_, _, err := LoadOrCreateKeyFile(path)
		require.ErrorContains(t, err, "no keys")
	})
	t.Run("concurrent first starts agree", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		const n = 8
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var keys []MasterKey
				keys, created[i], errs[i] = LoadOrCreateKeyFile(path)
				if len(keys) > 0 {
					ids[i] = keys[0].ID
				}
			})
		}
		wg.Wait()
		creators := 0
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, ids[0], ids[i])
			if created[i] {
				creators++
			}
		}
		require.Equal(t, 1, creators)
	})
}

func FuzzParseMasterKey(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add(" QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n")
	f.Add("not base64")
	f.Add("")
	f.Fuzz(func(t *testing.T, input string) {
		k, err := ParseMasterKey(input)
		if err != nil {
			// Only fixed messages: the input is never echoed.
			require.Regexp(t, `^parse master key: (not valid standard base64 \(want 44 characters ending in '='\)|decodes to \d+ bytes, want 32|looks like hex; want standard base64 of 32 bytes \(e\.g\. `+"`openssl rand -base64 32`"+`\))$`, err.Error())
			return
		}
		again, err := ParseMasterKey(k.Base64())
		require.NoError(t, err)
		require.Equal(t, k.ID, again.ID)
	})
}
