package sshserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/sshserver"
)

func TestGeneratedHostKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "hostkeys")
	cfg := sshserver.DefaultConfig()
	cfg.HostKeyDir = dir

	first, err := sshserver.New(cfg, newHarnessAuth(), newMemFiles(), nil, nil, nil)
	require.NoError(t, err)
	keys := first.HostKeys()
	require.Len(t, keys, 2)
	require.Equal(t, ssh.KeyAlgoED25519, keys[0].Type())
	require.Equal(t, ssh.KeyAlgoRSA, keys[1].Type())
	rsaPub := keys[1].(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
	require.Equal(t, 3072, rsaPub.N.BitLen())

	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	for i, name := range []string{"ssh_host_ed25519_key", "ssh_host_rsa_key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
		line, err := os.ReadFile(filepath.Join(dir, name+".pub"))
		require.NoError(t, err)
		pk, _, _, _, err := ssh.ParseAuthorizedKey(line)
		require.NoError(t, err)
		require.Equal(t, keys[i].Marshal(), pk.Marshal(), name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 4, "no temporary files left behind")

	// A restart, or a second node sharing the directory, loads the same keys.
	second, err := sshserver.New(cfg, newHarnessAuth(), newMemFiles(), nil, nil, nil)
	require.NoError(t, err)
	require.Equal(t, keys, second.HostKeys())
}

func TestConfiguredHostKeys(t *testing.T) {
	dir := t.TempDir()
	ed := writeKey(t, dir, "ed", newEd25519(t))
	ed2 := writeKey(t, dir, "ed2", newEd25519(t))
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	ecPath := writeKey(t, dir, "ec", ec)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakPath := writeKey(t, dir, "weak", weak)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(newEd25519(t), "", []byte("secret"))
	require.NoError(t, err)
	encrypted := filepath.Join(dir, "encrypted")
	require.NoError(t, os.WriteFile(encrypted, pem.EncodeToMemory(block), 0o600))
	garbage := filepath.Join(dir, "garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key"), 0o600))
	open := writeKey(t, dir, "open", newEd25519(t))
	require.NoError(t, os.Chmod(open, 0o644))

	tests := []struct {
		name  string
		paths []string
		types []string
		want  string
	}{
		{name: "ed25519 and ecdsa", paths: []string{ed, ecPath}, types: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA384}},
		{name: "readable by others still loads", paths: []string{open}, types: []string{ssh.KeyAlgoED25519}},
		{name: "two keys of one type", paths: []string{ed, ed2}, want: "are both ssh-ed25519 keys"},
		{name: "weak rsa", paths: []string{weakPath}, want: "RSA key of 1024 bits is too weak"},
		{name: "encrypted", paths: []string{encrypted}, want: "is encrypted; host keys must be stored unencrypted"},
		{name: "garbage", paths: []string{garbage}, want: "parse host key"},
		{name: "missing", paths: []string{filepath.Join(dir, "missing")}, want: "read host key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sshserver.DefaultConfig()
			cfg.HostKeys = tc.paths
			srv, err := sshserver.New(cfg, newHarnessAuth(), newMemFiles(), nil, nil, nil)
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				require.NotContains(t, err.Error(), "secret")
				return
			}
			require.NoError(t, err)
			var types []string
			for _, k := range srv.HostKeys() {
				types = append(types, k.Type())
			}
			require.Equal(t, tc.types, types)
		})
	}

	t.Run("no paths and no directory", func(t *testing.T) {
		_, err := sshserver.New(sshserver.DefaultConfig(), newHarnessAuth(), newMemFiles(), nil, nil, nil)
		require.ErrorContains(t, err, "sftp.host_keys: empty, and no directory to generate host keys in")
	})
}
