package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"version"}, &out, &out))
	require.True(t, strings.HasPrefix(out.String(), "sluice "), out.String())
}

func TestTokenCreatePrintsOnce(t *testing.T) {
	t.Setenv("SLUICE_DATA_DIR", t.TempDir())
	var out, logs bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"token", "create", "--name", "ops"}, &out, &logs))
	token := strings.TrimSpace(out.String())
	require.Len(t, token, 40)
	require.NotContains(t, logs.String(), token)

	// A second token of the same name is refused.
	out.Reset()
	err := run(t.Context(), []string{"token", "create", "--name", "ops"}, &out, &logs)
	require.ErrorContains(t, err, `credential "ops" already exists`)
	require.Empty(t, out.String())

	err = run(t.Context(), []string{"token", "create"}, &out, &logs)
	require.ErrorContains(t, err, `"name" not set`)
}

func TestServeRefusesOpenKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SLUICE_DATA_DIR", dir)
	var out, logs bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"token", "create", "--name", "ops"}, &out, &logs)) // creates master.key
	require.NoError(t, os.Chmod(filepath.Join(dir, "master.key"), 0o644))
	err := run(t.Context(), []string{"token", "create", "--name", "ops2"}, &out, &logs)
	require.ErrorContains(t, err, "chmod 600")
}

func TestServeRefusesBadMasterKeyEnv(t *testing.T) {
	t.Setenv("SLUICE_DATA_DIR", t.TempDir())
	t.Setenv("SLUICE_MASTER_KEY", "c2hvcnQ=")
	var out, logs bytes.Buffer
	err := run(t.Context(), []string{"token", "create", "--name", "ops"}, &out, &logs)
	require.ErrorContains(t, err, "SLUICE_MASTER_KEY")
	require.NotContains(t, err.Error(), "c2hvcnQ=")
}

// TestMasterKeyRotate rotates the key file and the environment key and checks
// that sealed secrets still work afterwards, under the new key only.
func TestMasterKeyRotate(t *testing.T) {
	const hsSecret = "rotate-me-0123456789abcdef0123456789"
	bootstrap := "Vq3xZ8pL2mN7rT4kW9sB1cF6hJ0dG5yQaE"
	s := startServer(t, map[string]string{"SLUICE_BOOTSTRAP_TOKEN": bootstrap})
	code, body := s.call(t, bootstrap, "POST", "/api/v1/credentials", map[string]any{"name": "hs", "type": "jwt-hs256", "secret": hsSecret})
	require.Equal(t, http.StatusCreated, code, string(body))
	s.stop()

	keyFile := filepath.Join(s.dataDir, "master.key")
	before, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	var out, logs bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"master-key", "rotate"}, &out, &logs))
	require.Contains(t, out.String(), "re-encrypted 1 secrets")
	after, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	require.NotEqual(t, before, after)
	keys, err := credentials.LoadKeyFile(keyFile)
	require.NoError(t, err)
	require.Len(t, keys, 1, "old key removed")
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	jwtFor := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Minute).Unix()})
		tok.Header["kid"] = "hs"
		signed, err := tok.SignedString([]byte(hsSecret))
		require.NoError(t, err)
		return signed
	}
	// Same data dir, new key: the HS256 secret still opens.
	s2 := restartServer(t, s.dataDir, nil)
	code, body = s2.call(t, jwtFor(), "GET", "/api/v1/accounts", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	s2.stop()

	// Environment-held key: rotate to SLUICE_MASTER_KEY_NEW.
	t.Setenv("SLUICE_MASTER_KEY", base64.StdEncoding.EncodeToString(firstKey(t, keyFile)))
	require.NoError(t, os.Remove(keyFile))
	err = run(t.Context(), []string{"master-key", "rotate"}, &out, &logs)
	require.ErrorContains(t, err, "SLUICE_MASTER_KEY_NEW")
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	t.Setenv("SLUICE_MASTER_KEY_NEW", newKey)
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"master-key", "rotate"}, &out, &logs))
	require.Contains(t, out.String(), "re-encrypted 1 secrets")
	t.Setenv("SLUICE_MASTER_KEY", newKey)
	s3 := restartServer(t, s.dataDir, nil)
	code, body = s3.call(t, jwtFor(), "GET", "/api/v1/accounts", nil)
	require.Equal(t, http.StatusOK, code, string(body))
}

func firstKey(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		require.NoError(t, err)
		return k
	}
	t.Fatal("no key in key file")
	return nil
}
