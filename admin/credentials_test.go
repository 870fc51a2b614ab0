package admin

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestAccountCredentials(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c
	require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/accounts", map[string]any{"name": "acme"}).status)

	const (
		password    = "Tr0ub4dor&3-correct-horse"
		zipPassword = "zip-Secret-0f-the-day!"
	)
	c.v.secret(password, zipPassword)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " laptop@acme"

	for _, tc := range []struct {
		name  string
		body  map[string]any
		check func(t *testing.T, r credentialResponse)
	}{
		{"login", map[string]any{"name": "login", "type": "password", "password": password, "description": "SFTP login"},
			func(t *testing.T, r credentialResponse) { require.Equal(t, "SFTP login", r.Description) }},
		{"laptop", map[string]any{"name": "laptop", "type": "ssh-public-key", "public_key": authorized},
			func(t *testing.T, r credentialResponse) {
				require.Equal(t, ssh.FingerprintSHA256(sshPub), r.Fingerprint)
				require.Equal(t, "ssh-ed25519", r.Algorithm)
				require.Equal(t, "laptop@acme", r.Comment)
				require.Contains(t, r.PublicKey, strings.Fields(authorized)[1])
			}},
		{"zip", map[string]any{"name": "zip", "type": "zip-password", "password": zipPassword},
			func(t *testing.T, r credentialResponse) {}},
		{"pgp", map[string]any{"name": "pgp", "type": "pgp-private-key", "generate": true},
			func(t *testing.T, r credentialResponse) {
				require.True(t, r.Generated)
				require.NotEmpty(t, r.Fingerprint)
				require.NotEmpty(t, r.KeyIDs)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodPost, "/api/v1/accounts/acme/credentials", tc.body)
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			require.Equal(t, "/api/v1/accounts/acme/credentials/"+tc.name, r.header.Get("Location"))
			var got credentialResponse
			r.decode(t, &got)
			require.Equal(t, "acme", got.Account)
			require.Equal(t, tc.name, got.Name)
			require.Equal(t, credentials.Type(tc.body["type"].(string)), got.Type)
			require.NotEmpty(t, got.ID)
			tc.check(t, got)

			r = c.do(http.MethodGet, "/api/v1/accounts/acme/credentials/"+tc.name, nil)
			require.Equal(t, http.StatusOK, r.status)
			var again credentialResponse
			r.decode(t, &again)
			require.Equal(t, got, again)
		})
	}

	r := c.do(http.MethodGet, "/api/v1/accounts/acme/credentials", nil)
	require.Equal(t, http.StatusOK, r.status)
	var page list[credentialResponse]
	r.decode(t, &page)
	var names []string
	for _, it := range page.Items {
		names = append(names, it.Name)
	}
	require.Equal(t, []string{"laptop", "login", "pgp", "zip"}, names)

	r = c.do(http.MethodGet, "/api/v1/accounts/acme/credentials/pgp/public-key", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "application/pgp-keys", r.header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(string(r.body), "-----BEGIN PGP PUBLIC KEY BLOCK-----"), "%s", r.body)
	require.NotContains(t, string(r.body), "PRIVATE")

	r = c.do(http.MethodGet, "/api/v1/accounts/acme/credentials/login/public-key", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, r.problem(t).Detail, "has no OpenPGP public key")

	r = c.do(http.MethodPost, "/api/v1/accounts/acme/credentials", map[string]any{"name": "zip", "type": "zip-password", "password": zipPassword})
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, r.problem(t).Detail, "zip")

	r = c.do(http.MethodPatch, "/api/v1/accounts/acme/credentials/login", map[string]any{"name": "login", "description": "renamed nothing"})
	require.Equal(t, http.StatusOK, r.status, "the same name is not a rename")
	var patched credentialResponse
	r.decode(t, &patched)
	require.Equal(t, "renamed nothing", patched.Description)

	r = c.do(http.MethodPatch, "/api/v1/accounts/acme/credentials/login", map[string]any{"name": "login2"})
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, r.problem(t).Detail, "credential names cannot be changed once saved")

	r = c.do(http.MethodDelete, "/api/v1/accounts/acme/credentials/zip", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	r = c.do(http.MethodGet, "/api/v1/accounts/acme/credentials/zip", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = c.do(http.MethodGet, "/api/v1/accounts/ghost/credentials", nil)
	require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, r.status)
}

func TestGlobalCredentials(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c
	k := newJWTKeys(t)
	token, err := credentials.GenerateAPIToken()
	require.NoError(t, err)
	c.v.secret(token, string(k.hsSecret))

	r := c.do(http.MethodPost, "/api/v1/credentials", map[string]any{"name": "ci", "type": "api-token", "token": token})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, "/api/v1/credentials/ci", r.header.Get("Location"))
	var ci credentialResponse
	r.decode(t, &ci)
	require.Empty(t, ci.Account)
	require.NotEmpty(t, ci.TokenPrefix)
	require.True(t, strings.HasPrefix(token, ci.TokenPrefix))
	require.Less(t, len(ci.TokenPrefix), len(token)/2)
	require.NotContains(t, string(r.body), `"account"`, "global credentials have no account")

	require.Equal(t, http.StatusOK, c.doAs(token, http.MethodGet, "/api/v1/accounts", nil).status, "the new token authenticates")

	r = c.do(http.MethodPost, "/api/v1/credentials", map[string]any{"name": "hs", "type": "jwt-hs256", "secret": string(k.hsSecret)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r = c.do(http.MethodPost, "/api/v1/credentials", map[string]any{"name": "rs", "type": "jwt-rs256", "public_key": string(k.rsPEM)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var rs credentialResponse
	r.decode(t, &rs)
	require.Equal(t, strings.TrimSpace(string(k.rsPEM)), strings.TrimSpace(rs.PublicKey))

	r = c.do(http.MethodGet, "/api/v1/credentials?limit=2", nil)
	require.Equal(t, http.StatusOK, r.status)
	var page list[credentialResponse]
	r.decode(t, &page)
	require.Len(t, page.Items, 2)
	require.NotEmpty(t, page.Next)

	r = c.do(http.MethodPost, "/api/v1/credentials", map[string]any{"name": "weak", "type": "api-token", "token": strings.Repeat("a", 40)})
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Equal(t, "token", r.problem(t).Errors[0].Field)

	r = c.do(http.MethodPatch, "/api/v1/credentials/ci", map[string]any{"description": "deploys"})
	require.Equal(t, http.StatusOK, r.status)
	r = c.do(http.MethodDelete, "/api/v1/credentials/ci", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, http.StatusUnauthorized, c.doAs(token, http.MethodGet, "/api/v1/accounts", nil).status, "a deleted token no longer authenticates")
}

// TestAuthenticateStored runs every auth case against credentials stored
// through the API, and checks that a JWT's actor is its kid.
func TestAuthenticateStored(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c
	k := newJWTKeys(t)
	c.v.secret(string(k.hsSecret))
	require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/credentials", map[string]any{"name": "hs", "type": "jwt-hs256", "secret": string(k.hsSecret)}).status)
	require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/credentials", map[string]any{"name": "rs", "type": "jwt-rs256", "public_key": string(k.rsPEM)}).status)

	for _, tc := range authCases(t, k, "hs", "rs", c.token) {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.baseURL+"/api/v1/credentials/hs", nil)
			require.NoError(t, err)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := roundTrip(t, c, req)
			if tc.ok {
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				return
			}
			require.Equal(t, http.StatusUnauthorized, r.status)
			require.Equal(t, errUnauthorized.Message, r.problem(t).Detail, "every failure says the same")
			require.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer"))
		})
	}

	r := c.do(http.MethodGet, "/api/v1/credentials/hs", nil)
	var hs credentialResponse
	r.decode(t, &hs)
	require.NotNil(t, hs.LastUsedAt, "a verified JWT records its key's use")

	jwtToken := hs256Token(t, k, "hs", 5*time.Minute)
	r = c.doAs(jwtToken, http.MethodPost, "/api/v1/accounts", map[string]any{"name": "byjwt"})
	require.Equal(t, http.StatusCreated, r.status)
	r = c.do(http.MethodGet, "/api/v1/audit?action=account.create", nil)
	var events list[credentials.AuditEvent]
	r.decode(t, &events)
	require.Len(t, events.Items, 1)
	require.Equal(t, "hs", events.Items[0].Actor)
}
