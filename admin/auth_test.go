package admin

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

// jwtKeys are the signing keys of the auth tests.
type jwtKeys struct {
	hsSecret []byte
	rsKey    *rsa.PrivateKey
	rsPEM    []byte // PEM of the RSA public key
}

func newJWTKeys(t *testing.T) jwtKeys {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return jwtKeys{
		hsSecret: []byte("0123456789abcdef0123456789abcdef-hs256-test-secret"),
		rsKey:    k,
		rsPEM:    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}
}

// sign returns a compact JWT with the given method, kid, claims and key.
func sign(t *testing.T, m jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// authCases returns the bearer tokens every auth test tries, with whether
// each must be accepted. hsKid and rsKid name the stored JWT credentials;
// apiToken is a stored API token.
func authCases(t *testing.T, k jwtKeys, hsKid, rsKid, apiToken string) []struct {
	name   string
	header string
	ok     bool
} {
	t.Helper()
	now := time.Now()
	exp := func(d time.Duration) jwt.MapClaims {
		return jwt.MapClaims{"sub": "ops", "exp": now.Add(d).Unix(), "iat": now.Unix()}
	}
	valid := hs256Token(t, k, hsKid, 5*time.Minute)
	parts := strings.Split(valid, ".")
	tamperedPayload := parts[0] + "." + jwtSegment(t, `{"sub":"root","exp":`+strconv.FormatInt(now.Add(time.Hour).Unix(), 10)+`}`) + "." + parts[2]
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 0x01
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)
	none := sign(t, jwt.SigningMethodNone, hsKid, exp(5*time.Minute), jwt.UnsafeAllowNoneSignatureType)
	nbf := exp(5 * time.Minute)
	nbf["nbf"] = now.Add(5 * time.Minute).Unix()

	return []struct {
		name   string
		header string
		ok     bool
	}{
		{"api token", "Bearer " + apiToken, true},
		{"api token, lower-case scheme", "bearer " + apiToken, true},
		{"hs256", "Bearer " + valid, true},
		{"rs256", "Bearer " + sign(t, jwt.SigningMethodRS256, rsKid, exp(5*time.Minute), k.rsKey), true},
		{"expired within the leeway", "Bearer " + sign(t, jwt.SigningMethodHS256, hsKid, exp(-30*time.Second), k.hsSecret), true},

		{"no header", "", false},
		{"basic scheme", "Basic " + apiToken, false},
		{"empty bearer", "Bearer ", false},
		{"unknown api token", "Bearer " + strings.Repeat("x", 40), false},
		{"oversized token", "Bearer " + strings.Repeat("x", maxBearerLength+1), false},
		{"alg none", "Bearer " + none, false},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, hsKid, exp(-2*time.Minute), k.hsSecret), false},
		{"nbf in the future", "Bearer " + sign(t, jwt.SigningMethodHS256, hsKid, nbf, k.hsSecret), false},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, hsKid, jwt.MapClaims{"sub": "ops"}, k.hsSecret), false},
		{"unknown kid", "Bearer " + sign(t, jwt.SigningMethodHS256, "nobody", exp(5*time.Minute), k.hsSecret), false},
		{"no kid", "Bearer " + sign(t, jwt.SigningMethodHS256, "", exp(5*time.Minute), k.hsSecret), false},
		{"hs256 with the rs256 key's PEM as secret", "Bearer " + sign(t, jwt.SigningMethodHS256, rsKid, exp(5*time.Minute), k.rsPEM), false},
		{"rs256 token naming an hs256 kid", "Bearer " + sign(t, jwt.SigningMethodRS256, hsKid, exp(5*time.Minute), k.rsKey), false},
		{"hs384", "Bearer " + sign(t, jwt.SigningMethodHS384, hsKid, exp(5*time.Minute), k.hsSecret), false},
		{"tampered signature", "Bearer " + tamperedSig, false},
		{"tampered payload", "Bearer " + tamperedPayload, false},
	}
}

// hs256Token returns a valid HS256 JWT for kid that expires in d.
func hs256Token(t *testing.T, k jwtKeys, kid string, d time.Duration) string {
	t.Helper()
	now := time.Now()
	return sign(t, jwt.SigningMethodHS256, kid, jwt.MapClaims{"sub": "ops", "exp": now.Add(d).Unix(), "iat": now.Unix()}, k.hsSecret)
}

func jwtSegment(t *testing.T, s string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func TestAuthenticate(t *testing.T) {
	k := newJWTKeys(t)
	const apiToken = "sl_9f8e7d6c5b4a39281706f5e4d3c2b1a0ZZqq"
	svc := &fakeService{
		tokens: map[string]credentials.Credential{apiToken: {Name: "ci", Type: credentials.TypeAPIToken}},
		hs:     map[string][]byte{"hs": k.hsSecret},
		rs:     map[string]*rsa.PublicKey{"rs": &k.rsKey.PublicKey},
	}
	c := newAPIClient(t, newFakeServer(t, svc))
	for _, tc := range authCases(t, k, "hs", "rs", apiToken) {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.baseURL+"/api/v1/accounts", nil)
			require.NoError(t, err)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := roundTrip(t, c, req)
			if tc.ok {
				require.Equal(t, http.StatusOK, r.status)
				return
			}
			require.Equal(t, http.StatusUnauthorized, r.status)
			p := r.problem(t)
			require.Equal(t, errUnauthorized.Message, p.Detail, "every failure says the same")
			require.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer"))
		})
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	require.Contains(t, svc.used, "hs", "a verified JWT marks its credential used")
	require.Contains(t, svc.used, "rs")
}

func TestLooksLikeJWT(t *testing.T) {
	for _, tc := range []struct {
		token string
		want  bool
	}{
		{"eyJhbGciOiJIUzI1NiJ9.e30.sig", true},
		{"abc.def.ghi", false}, // three parts, but no JSON header: an API token
		{"eyJhbGciOiJIUzI1NiJ9.e30", false},
		{"..", false},
		{"plain-token", false},
	} {
		t.Run(tc.token, func(t *testing.T) {
			require.Equal(t, tc.want, looksLikeJWT(tc.token))
		})
	}
}
