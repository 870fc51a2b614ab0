package admin

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

// ordersFeed is DESIGN.md's example feed body.
const ordersFeed = `{"path":"/orders","on_error":"reject_file","max_error_rate":0,
 "require_encryption":false,"require_signature":false,
 "schema":{"delimiter":"auto","encoding":"utf-8","columns":[
   {"name":"id","type":"integer","required":true,"unique":true},
   {"name":"email","type":"email"},
   {"name":"amount","type":"decimal"},
   {"name":"day","type":"date","format":"2006-01-02"},
   {"name":"tier","type":"enum","values":["gold","silver"]}]}}`

func TestFeeds(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c
	require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/accounts", map[string]any{"name": "acme"}).status)

	r := c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, "/api/v1/accounts/acme/feeds/orders", r.header.Get("Location"))
	var f credentials.Feed
	r.decode(t, &f)
	require.Equal(t, "acme", f.Account)
	require.Equal(t, "orders", f.Name)
	require.Equal(t, "/orders", f.Path)
	require.Len(t, f.Schema.Columns, 5)
	require.Equal(t, []string{"gold", "silver"}, f.Schema.Columns[4].Values)

	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", map[string]any{
		"path": "/orders", "on_error": "skip_rows", "max_error_rate": 0.1,
		"schema": map[string]any{"allow_extra_columns": true, "columns": []any{map[string]any{"name": "id", "type": "integer"}}},
	})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Empty(t, r.header.Get("Location"))
	r.decode(t, &f)
	require.Equal(t, "skip_rows", f.OnError)
	require.True(t, f.Schema.AllowExtraColumns)

	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/default", map[string]any{
		"path": "/", "schema": map[string]any{"columns": []any{map[string]any{"name": "line", "type": "string"}}},
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

	r = c.do(http.MethodGet, "/api/v1/accounts/acme/feeds", nil)
	require.Equal(t, http.StatusOK, r.status)
	var feeds list[credentials.Feed]
	r.decode(t, &feeds)
	require.Len(t, feeds.Items, 2)
	require.Empty(t, feeds.Next)

	r = c.do(http.MethodGet, "/api/v1/accounts/acme/feeds/orders", nil)
	require.Equal(t, http.StatusOK, r.status)

	r = c.do(http.MethodPut, "/api/v1/accounts/ghost/feeds/orders", ordersFeed)
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	require.Contains(t, r.problem(t).Detail, "ghost")

	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders2", ordersFeed)
	require.Equal(t, http.StatusConflict, r.status, "two feeds cannot share a folder: %s", r.body)
	require.NotEmpty(t, r.problem(t).Detail)

	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/Bad.Name", ordersFeed)
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Equal(t, "name", r.problem(t).Errors[0].Field)

	r = c.do(http.MethodDelete, "/api/v1/accounts/acme/feeds/orders", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	r = c.do(http.MethodGet, "/api/v1/accounts/acme/feeds/orders", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = c.do(http.MethodDelete, "/api/v1/accounts/acme/feeds/orders", nil)
	require.Equal(t, http.StatusNotFound, r.status)
}

func TestFeedExpectedEvery(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c
	require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/accounts", map[string]any{"name": "acme"}).status)
	body := func(every any) map[string]any {
		return map[string]any{"path": "/orders", "expected_every": every,
			"schema": map[string]any{"columns": []any{map[string]any{"name": "id", "type": "integer"}}}}
	}

	r := c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", body("24h"))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"expected_every":"24h"`)
	var f credentials.Feed
	r.decode(t, &f)
	require.Equal(t, 24*time.Hour, f.ExpectedEvery)

	r = c.do(http.MethodGet, "/api/v1/accounts/acme/feeds/orders", nil)
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &f)
	require.Equal(t, 24*time.Hour, f.ExpectedEvery)

	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", body("90m"))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"expected_every":"1h30m"`)

	for _, tc := range []struct {
		name   string
		every  any
		reason string
	}{
		{"not a duration", "daily", "must be a duration such as"},
		{"days unit", "1d", "must be a duration such as"},
		{"under a minute", "30s", "at least 1m"},
		{"over 90 days", "2161h", "at most 2160h"},
		{"negative", "-1h", "must not be negative"},
		{"fraction of a second", "1m0.5s", "whole number of seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", body(tc.every))
			require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
			p := r.problem(t)
			require.Len(t, p.Errors, 1)
			require.Equal(t, "expected_every", p.Errors[0].Field)
			require.Contains(t, p.Errors[0].Reason, tc.reason)
		})
	}
	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", body(3600))
	require.Equal(t, http.StatusBadRequest, r.status, "a number is not a duration string: %s", r.body)

	// Unchanged by the refused requests; "" clears it.
	r = c.do(http.MethodGet, "/api/v1/accounts/acme/feeds/orders", nil)
	r.decode(t, &f)
	require.Equal(t, 90*time.Minute, f.ExpectedEvery)
	r = c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", body(""))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"expected_every":""`)
}
