package admin

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

func TestAuditTrail(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.c
	const zipPassword = "Zip-Password-For-Audit-42"
	c.v.secret(zipPassword)

	type step struct {
		method, path string
		body         any
		status       int
		action       string // "" when no event is expected
		target       string
	}
	steps := []step{
		{"POST", "/api/v1/accounts", map[string]any{"name": "acme"}, 201, "account.create", "accounts/acme"},
		{"POST", "/api/v1/accounts", map[string]any{"name": "acme"}, 409, "", ""},
		{"GET", "/api/v1/accounts/acme", nil, 200, "", ""},
		{"PATCH", "/api/v1/accounts/acme", map[string]any{"quota_files": 5}, 200, "account.update", "accounts/acme"},
		{"POST", "/api/v1/accounts/acme/credentials", map[string]any{"name": "zip", "type": "zip-password", "password": zipPassword}, 201, "credential.create", "accounts/acme/credentials/zip"},
		{"PATCH", "/api/v1/accounts/acme/credentials/zip", map[string]any{"description": "for partners"}, 200, "credential.update", "accounts/acme/credentials/zip"},
		{"PATCH", "/api/v1/accounts/acme/credentials/zip", map[string]any{"name": "zip2"}, 409, "", ""},
		{"PUT", "/api/v1/accounts/acme/feeds/orders", ordersFeed, 201, "feed.put", "accounts/acme/feeds/orders"},
		{"PUT", "/api/v1/accounts/acme/feeds/orders", ordersFeed, 200, "feed.put", "accounts/acme/feeds/orders"},
		{"DELETE", "/api/v1/accounts/acme/feeds/orders", nil, 204, "feed.delete", "accounts/acme/feeds/orders"},
		{"DELETE", "/api/v1/accounts/acme/credentials/zip", nil, 204, "credential.delete", "accounts/acme/credentials/zip"},
		{"PATCH", "/api/v1/credentials/root", map[string]any{"description": "the first admin"}, 200, "credential.update", "credentials/root"},
		{"DELETE", "/api/v1/accounts/acme", nil, 204, "account.delete", "accounts/acme"},
	}
	var want []credentials.AuditEvent
	for _, s := range steps {
		r := c.do(s.method, s.path, s.body)
		require.Equal(t, s.status, r.status, "%s %s: %s", s.method, s.path, r.body)
		if s.action != "" {
			want = append(want, credentials.AuditEvent{
				Actor: "root", Action: s.action, Target: s.target, Remote: "127.0.0.1",
				RequestID: r.header.Get("X-Request-Id"), Result: "ok",
			})
		}
	}

	r := c.do(http.MethodGet, "/api/v1/audit", nil)
	require.Equal(t, http.StatusOK, r.status)
	var got list[credentials.AuditEvent]
	r.decode(t, &got)
	// Newest first; events of the same millisecond may come in any order.
	var events []credentials.AuditEvent
	for i, ev := range got.Items {
		require.NotEmpty(t, ev.ID)
		require.False(t, ev.Time.IsZero())
		if i > 0 {
			require.False(t, ev.Time.After(got.Items[i-1].Time.Add(time.Millisecond)), "newest first")
		}
		ev.ID, ev.Time = "", time.Time{}
		events = append(events, ev)
	}
	require.ElementsMatch(t, want, events)

	for _, tc := range []struct {
		name  string
		query string
		want  int
	}{
		{"by action", "?action=feed.put", 2},
		{"by target prefix", "?target=accounts/acme/credentials", 3},
		{"by actor", "?actor=root", len(want)},
		{"by unknown actor", "?actor=nobody", 0},
		{"page", "?limit=3", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodGet, "/api/v1/audit"+tc.query, nil)
			require.Equal(t, http.StatusOK, r.status)
			var page list[credentials.AuditEvent]
			r.decode(t, &page)
			require.Len(t, page.Items, tc.want)
		})
	}
}
