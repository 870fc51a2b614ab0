package admin

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBadInput sends one bad request per case and checks the status and the
// problem's detail.
func TestBadInput(t *testing.T) {
	cfg := DefaultConfig()
	env := newTestEnv(t, &cfg)
	c := env.c
	require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/accounts", map[string]any{"name": "taken"}).status)

	for _, tc := range []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantDetail string // exact, or a prefix when it ends with "…"
		wantField  string // for 422: the errors[0].field
	}{
		{name: "malformed JSON", method: "POST", path: "/api/v1/accounts", body: `{"name": "x",}`,
			wantStatus: 400, wantDetail: "malformed JSON at byte offset 14"},
		{name: "truncated JSON", method: "POST", path: "/api/v1/accounts", body: `{"name": "x"`,
			wantStatus: 400, wantDetail: "malformed JSON: unexpected end of the request body"},
		{name: "unknown field", method: "POST", path: "/api/v1/accounts", body: `{"name":"x","foo":1}`,
			wantStatus: 400, wantDetail: `unknown field "foo"`},
		{name: "unknown nested field", method: "PUT", path: "/api/v1/accounts/taken/feeds/f", body: `{"path":"/f","schema":{"columns":[{"name":"a","type":"string","colour":"red"}]}}`,
			wantStatus: 400, wantDetail: `unknown field "colour"`},
		{name: "wrong JSON type", method: "POST", path: "/api/v1/accounts", body: `{"name":"x","quota_bytes":"lots"}`,
			wantStatus: 400, wantDetail: `field "quota_bytes": expected a JSON integer, found string`},
		{name: "not an object", method: "POST", path: "/api/v1/accounts", body: `["x"]`,
			wantStatus: 400, wantDetail: "request body must be a JSON object, found array"},
		{name: "wrong element type", method: "POST", path: "/api/v1/accounts", body: `{"name":"x","allowed_cidrs":[1]}`,
			wantStatus: 400, wantDetail: `field "allowed_cidrs": expected a JSON string, found number`},
		{name: "number out of range", method: "POST", path: "/api/v1/accounts", body: `{"name":"x","quota_bytes":1e40}`,
			wantStatus: 400, wantDetail: `field "quota_bytes": expected a JSON integer, found number`},
		{name: "trailing data", method: "POST", path: "/api/v1/accounts", body: `{"name":"x"} {"name":"y"}`,
			wantStatus: 400, wantDetail: "request body must hold a single JSON value, found trailing data"},
		{name: "empty body", method: "POST", path: "/api/v1/accounts", body: ``,
			wantStatus: 400, wantDetail: "request body must not be empty"},
		{name: "bad time", method: "PATCH", path: "/api/v1/credentials/root", body: `{"expires_at":"tomorrow"}`,
			wantStatus: 400, wantDetail: "a time in the request body is not an RFC 3339 string"},
		{name: "body over the limit", method: "POST", path: "/api/v1/accounts",
			body:       `{"name":"x","allowed_cidrs":["` + strings.Repeat("a", int(cfg.BodyLimit)) + `"]}`,
			wantStatus: 413, wantDetail: "request body exceeds the limit of 1048576 bytes"},
		{name: "empty name", method: "POST", path: "/api/v1/accounts", body: map[string]any{"name": ""},
			wantStatus: 422, wantDetail: "name: is required", wantField: "name"},
		{name: "overlong name", method: "POST", path: "/api/v1/accounts", body: map[string]any{"name": strings.Repeat("a", 64)},
			wantStatus: 422, wantDetail: "name: must be at most 63 characters (got 64)", wantField: "name"},
		{name: "invalid name", method: "POST", path: "/api/v1/accounts", body: map[string]any{"name": "Acme Corp"},
			wantStatus: 422, wantDetail: "name: must match …", wantField: "name"},
		{name: "duplicate name", method: "POST", path: "/api/v1/accounts", body: map[string]any{"name": "taken"},
			wantStatus: 409, wantDetail: "…taken…"},
		{name: "negative quota", method: "POST", path: "/api/v1/accounts", body: map[string]any{"name": "neg", "quota_bytes": -1},
			wantStatus: 422, wantDetail: "quota_bytes: must be 0 (unlimited) or positive", wantField: "quota_bytes"},
		{name: "bad cidr", method: "POST", path: "/api/v1/accounts", body: map[string]any{"name": "cidr", "allowed_cidrs": []string{"10.0.0.0/33"}},
			wantStatus: 422, wantDetail: "allowed_cidrs[0]: …", wantField: "allowed_cidrs[0]"},
		{name: "unknown credential type", method: "POST", path: "/api/v1/accounts/taken/credentials", body: map[string]any{"name": "k", "type": "carrier-pigeon"},
			wantStatus: 422, wantDetail: `type: unknown credential type "carrier-pigeon"…`, wantField: "type"},
		{name: "global type under an account", method: "POST", path: "/api/v1/accounts/taken/credentials", body: map[string]any{"name": "k", "type": "api-token", "token": "x"},
			wantStatus: 422, wantDetail: "type: api-token is a global credential…", wantField: "type"},
		{name: "account type as global", method: "POST", path: "/api/v1/credentials", body: map[string]any{"name": "k", "type": "password", "password": "x"},
			wantStatus: 422, wantDetail: "type: password is an account credential…", wantField: "type"},
		{name: "credential of unknown account", method: "POST", path: "/api/v1/accounts/ghost/credentials", body: map[string]any{"name": "k", "type": "zip-password", "password": "Zip-pass-1234"},
			wantStatus: 404, wantDetail: "…ghost…"},
		{name: "rename a credential", method: "PATCH", path: "/api/v1/credentials/root", body: map[string]any{"name": "admin"},
			wantStatus: 409, wantDetail: "…credential names cannot be changed once saved…"},
		{name: "retype a credential", method: "PATCH", path: "/api/v1/credentials/root", body: map[string]any{"type": "jwt-hs256"},
			wantStatus: 409, wantDetail: "…credential types cannot be changed once saved…"},
		{name: "bad column type", method: "PUT", path: "/api/v1/accounts/taken/feeds/orders", body: map[string]any{"path": "/orders", "schema": map[string]any{"columns": []any{map[string]any{"name": "id", "type": "uuid"}}}},
			wantStatus: 422, wantDetail: `schema.columns[0].type: unknown column type "uuid"…`, wantField: "schema.columns[0].type"},
		{name: "limit zero", method: "GET", path: "/api/v1/accounts?limit=0",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
		{name: "limit too big", method: "GET", path: "/api/v1/credentials?limit=1001",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
		{name: "limit not a number", method: "GET", path: "/api/v1/audit?limit=ten",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.wantStatus, r.status, "%s", r.body)
			p := r.problem(t)
			requireDetail(t, tc.wantDetail, p.Detail)
			if tc.wantStatus == http.StatusUnprocessableEntity {
				require.Len(t, p.Errors, 1)
				require.Equal(t, tc.wantField, p.Errors[0].Field)
				require.Equal(t, p.Detail, p.Errors[0].Field+": "+p.Errors[0].Reason)
			}
		})
	}
}

// requireDetail checks a problem detail against want, which may start or end
// with "…" to match only its other end.
func requireDetail(t *testing.T, want, got string) {
	t.Helper()
	switch {
	case strings.HasPrefix(want, "…") && strings.HasSuffix(want, "…"):
		require.Contains(t, got, strings.Trim(want, "…"))
	case strings.HasSuffix(want, "…"):
		require.True(t, strings.HasPrefix(got, strings.TrimSuffix(want, "…")), "detail %q, want prefix %q", got, want)
	case strings.HasPrefix(want, "…"):
		require.True(t, strings.HasSuffix(got, strings.TrimPrefix(want, "…")), "detail %q, want suffix %q", got, want)
	default:
		require.Equal(t, want, got)
	}
}

func TestUnsupportedMediaType(t *testing.T) {
	env := newTestEnv(t, nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.c.baseURL+"/api/v1/accounts", strings.NewReader("name=acme"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+env.c.token)
	r := roundTrip(t, env.c, req)
	require.Equal(t, http.StatusUnsupportedMediaType, r.status)
	require.Equal(t, "request body must be application/json", r.problem(t).Detail)
}

// TestBodyLimitStreamed sends a body of unknown length (chunked) over a
// small configured limit: the limit holds while reading, not only on
// Content-Length.
func TestBodyLimitStreamed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BodyLimit = 1024
	env := newTestEnv(t, &cfg)
	body := io.MultiReader(strings.NewReader(`{"name":"x","allowed_cidrs":["`), strings.NewReader(strings.Repeat("a", 4096)), strings.NewReader(`"]}`))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.c.baseURL+"/api/v1/accounts", body)
	require.NoError(t, err)
	require.Equal(t, int64(0), req.ContentLength, "unknown length: sent chunked")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.c.token)
	r := roundTrip(t, env.c, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	require.Equal(t, "request body exceeds the limit of 1024 bytes", r.problem(t).Detail)
}

// TestConcurrentCreate creates one account name from many clients at once:
// exactly one gets a 201, every other a 409.
func TestConcurrentCreate(t *testing.T) {
	env := newTestEnv(t, nil)
	const n = 16
	statuses := make([]int, n)
	details := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := env.c.send(env.c.token, http.MethodPost, "/api/v1/accounts", `{"name":"race"}`)
			if err != nil {
				details[i] = err.Error()
				return
			}
			statuses[i] = r.status
			if r.status != http.StatusCreated {
				details[i] = string(r.body)
			}
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("request %d: status %d: %s", i, s, details[i])
		}
	}
	require.Equal(t, 1, created)
}
