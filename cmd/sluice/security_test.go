package main

import (
	"bytes"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
)

// gpgProtectedKey makes an ed25519/cv25519 key protected by passphrase with
// the real GnuPG and returns it armored.
func gpgProtectedKey(t *testing.T, passphrase string) string {
	t.Helper()
	home := gnupgtest.New(t)
	gpg := func(args ...string) []byte {
		t.Helper()
		return home.Must(t, nil, append([]string{"--passphrase", passphrase}, args...)...)
	}
	gpg("--quick-gen-key", "Planted <planted@example.com>", "ed25519", "sign", "never")
	fpr := strings.Split(strings.TrimSpace(string(gpg("--list-keys", "--with-colons", "planted@example.com"))), "\n")
	var fingerprint string
	for _, l := range fpr {
		if f := strings.Split(l, ":"); f[0] == "fpr" {
			fingerprint = f[9]
			break
		}
	}
	gpg("--quick-add-key", fingerprint, "cv25519", "encr", "never")
	return string(gpg("--armor", "--export-secret-keys", fingerprint))
}

// TestSecretsNeverLeak plants known secrets through the API and checks that
// none appears in any API response, in the log, or in any byte of the data
// directory (database, WAL, journal, key file).
func TestSecretsNeverLeak(t *testing.T) {
	const (
		bootstrap  = "Vq3xZ8pL2mN7rT4kW9sB1cF6hJ0dG5yQaE"
		password   = "pw-Planted-Secret-0001-x"
		zipPass    = "zip-Planted-Secret-0002"
		hsSecret   = "hs256-Planted-Secret-0003-abcdefghijklmnop"
		passphrase = "pgp-Planted-Passphrase-0004"
		apiToken   = "T7mQ2vX9bK4nR8wZ1cH6jL3pF0sD5gYaUe"
	)
	armoredKey := gpgProtectedKey(t, passphrase)
	keyBody := strings.Split(armoredKey, "\n")[3] // a line of the private key's base64 body
	secrets := []string{bootstrap, password, zipPass, hsSecret, passphrase, apiToken, keyBody}

	s := startServer(t, map[string]string{"SLUICE_BOOTSTRAP_TOKEN": bootstrap, "SLUICE_LOG_LEVEL": "debug"})
	var responses bytes.Buffer
	do := func(token, method, path string, body any, want int) {
		t.Helper()
		code, out := s.call(t, token, method, path, body)
		require.Equal(t, want, code, "%s %s: %s", method, path, out)
		responses.Write(out)
	}

	do(bootstrap, "POST", "/api/v1/accounts", map[string]any{"name": "acme"}, http.StatusCreated)
	do(bootstrap, "POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "login", "type": "password", "password": password}, http.StatusCreated)
	do(bootstrap, "POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "zip", "type": "zip-password", "password": zipPass}, http.StatusCreated)
	do(bootstrap, "POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "pgp", "type": "pgp-private-key", "armored_key": armoredKey, "passphrase": passphrase}, http.StatusCreated)
	do(bootstrap, "POST", "/api/v1/credentials", map[string]any{"name": "hs", "type": "jwt-hs256", "secret": hsSecret}, http.StatusCreated)
	do(bootstrap, "POST", "/api/v1/credentials", map[string]any{"name": "ci", "type": "api-token", "token": apiToken}, http.StatusCreated)

	// Failures that carry secrets in their request must not echo them.
	do(bootstrap, "POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "login", "type": "password", "password": password}, http.StatusConflict)
	do(bootstrap, "POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "pgp2", "type": "pgp-private-key", "armored_key": armoredKey, "passphrase": passphrase + "x"}, http.StatusUnprocessableEntity)
	do(bootstrap, "POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "pw2", "type": "password", "password": password, "token": apiToken}, http.StatusUnprocessableEntity)
	do(bootstrap, "POST", "/api/v1/credentials", map[string]any{"name": "hs2", "type": "jwt-hs256", "secret": hsSecret, "extra": passphrase}, http.StatusBadRequest)
	do(password, "GET", "/api/v1/accounts", nil, http.StatusUnauthorized)

	// The planted HS256 secret works as a JWT key, and the new token as a token.
	jwtToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "ops", "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString([]byte(hsSecret))
	require.NoError(t, err)
	do(jwtToken, "GET", "/api/v1/accounts", nil, http.StatusUnauthorized) // no kid
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Minute).Unix()})
	tok.Header["kid"] = "hs"
	jwtToken, err = tok.SignedString([]byte(hsSecret))
	require.NoError(t, err)
	do(jwtToken, "GET", "/api/v1/accounts", nil, http.StatusOK)
	do(apiToken, "GET", "/api/v1/accounts/acme/credentials", nil, http.StatusOK)
	do(apiToken, "GET", "/api/v1/accounts/acme/credentials/pgp", nil, http.StatusOK)
	do(apiToken, "GET", "/api/v1/accounts/acme/credentials/pgp/public-key", nil, http.StatusOK)
	do(apiToken, "GET", "/api/v1/credentials", nil, http.StatusOK)
	do(apiToken, "PATCH", "/api/v1/credentials/hs", map[string]any{"description": "rotated"}, http.StatusOK)
	do(apiToken, "GET", "/api/v1/audit", nil, http.StatusOK)

	check := func(where string, data []byte) {
		t.Helper()
		for _, secret := range secrets {
			require.False(t, bytes.Contains(data, []byte(secret)), "a planted secret (%.6s…) appears in %s", secret, where)
		}
	}
	check("API responses", responses.Bytes())
	scan := func() {
		t.Helper()
		n := 0
		require.NoError(t, filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			check(path, data)
			n++
			return nil
		}))
		require.Positive(t, n)
	}
	scan() // while running: the WAL holds the recent writes
	s.stop()
	scan() // after the checkpoint at close
	check("the log", []byte(s.logs.String()))
	require.Contains(t, s.logs.String(), "credential created") // the log was captured at all
}
