package admin

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

func TestAccountLifecycle(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c

	r := c.do(http.MethodPost, "/api/v1/accounts", map[string]any{
		"name": "acme", "quota_bytes": 1 << 30, "allowed_cidrs": []string{"10.0.0.0/8", "192.0.2.7"},
		"require_key_and_password": true,
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, "/api/v1/accounts/acme", r.header.Get("Location"))
	var a credentials.Account
	r.decode(t, &a)
	require.Equal(t, "acme", a.Name)
	require.Equal(t, int64(1<<30), a.QuotaBytes)
	require.Equal(t, []string{"10.0.0.0/8", "192.0.2.7/32"}, a.AllowedCIDRs)
	require.True(t, a.RequireKeyAndPassword)

	r = c.do(http.MethodPost, "/api/v1/accounts", map[string]any{"name": "beta"})
	require.Equal(t, http.StatusCreated, r.status)
	r.decode(t, &a)
	require.Equal(t, []string{}, a.AllowedCIDRs, "never null")

	r = c.do(http.MethodGet, "/api/v1/accounts/acme", nil)
	require.Equal(t, http.StatusOK, r.status)

	var page list[credentials.Account]
	r = c.do(http.MethodGet, "/api/v1/accounts?limit=1", nil)
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	require.Equal(t, "acme", page.Items[0].Name)
	require.NotEmpty(t, page.Next)
	r = c.do(http.MethodGet, "/api/v1/accounts?limit=1&cursor="+page.Next, nil)
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	require.Equal(t, "beta", page.Items[0].Name)

	r = c.do(http.MethodPatch, "/api/v1/accounts/acme", map[string]any{"quota_files": 10, "disabled": true, "require_key_and_password": false})
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &a)
	require.Equal(t, int64(10), a.QuotaFiles)
	require.Equal(t, int64(1<<30), a.QuotaBytes, "absent fields are kept")
	require.True(t, a.Disabled)
	require.False(t, a.RequireKeyAndPassword)

	r = c.do(http.MethodPatch, "/api/v1/accounts/acme", map[string]any{"name": "acme2"})
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, r.problem(t).Detail, "account names cannot be changed once saved")

	r = c.do(http.MethodDelete, "/api/v1/accounts/acme", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	require.Empty(t, r.body)
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r = c.do(m, "/api/v1/accounts/acme", nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, r.problem(t).Detail, "acme")
	}
	r = c.do(http.MethodPatch, "/api/v1/accounts/acme", map[string]any{"disabled": false})
	require.Equal(t, http.StatusNotFound, r.status)
}
