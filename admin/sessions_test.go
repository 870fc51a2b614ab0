package admin

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

func TestSessions(t *testing.T) {
	env := newOpsEnv(t)
	c := env.c
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	env.sessions.add(
		Session{
			ID: "01JSESSIONB000000000000000", Account: "globex", Remote: netip.MustParseAddrPort("[2001:db8::7]:40022"),
			ClientVersion: "SSH-2.0-rclone/v1.69", Method: "password", Started: start.Add(time.Second),
		},
		Session{
			ID: "01JSESSIONA000000000000000", Account: "acme", Remote: netip.MustParseAddrPort("192.0.2.7:50022"),
			ClientVersion: "SSH-2.0-OpenSSH_9.2p1", Method: "publickey", KeyFingerprint: "SHA256:abc", Started: start,
		},
	)

	r := c.do(http.MethodGet, "/api/v1/sessions", nil)
	require.Equal(t, http.StatusOK, r.status)
	var got list[sessionResponse]
	r.decode(t, &got)
	require.Equal(t, []sessionResponse{
		{
			ID: "01JSESSIONA000000000000000", Account: "acme", Remote: "192.0.2.7:50022",
			ClientVersion: "SSH-2.0-OpenSSH_9.2p1", Method: "publickey", KeyFingerprint: "SHA256:abc", StartedAt: start,
		},
		{
			ID: "01JSESSIONB000000000000000", Account: "globex", Remote: "[2001:db8::7]:40022",
			ClientVersion: "SSH-2.0-rclone/v1.69", Method: "password", StartedAt: start.Add(time.Second),
		},
	}, got.Items, "oldest first")
	require.Empty(t, got.Next)

	var first, second list[sessionResponse]
	r = c.do(http.MethodGet, "/api/v1/sessions?limit=1", nil)
	r.decode(t, &first)
	require.Len(t, first.Items, 1)
	require.Equal(t, "acme", first.Items[0].Account)
	r = c.do(http.MethodGet, "/api/v1/sessions?limit=1&cursor="+url.QueryEscape(first.Next), nil)
	r.decode(t, &second)
	require.Len(t, second.Items, 1)
	require.Equal(t, "globex", second.Items[0].Account)
	require.Empty(t, second.Next)

	r = c.do(http.MethodDelete, "/api/v1/sessions/01JSESSIONA000000000000000", nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, []string{"01JSESSIONA000000000000000"}, env.sessions.killed)
	r = c.do(http.MethodDelete, "/api/v1/sessions/01JSESSIONA000000000000000", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, `session "01JSESSIONA000000000000000": not found`, r.problem(t).Detail)

	var left list[sessionResponse]
	r = c.do(http.MethodGet, "/api/v1/sessions", nil)
	r.decode(t, &left)
	require.Len(t, left.Items, 1)
	require.Equal(t, "globex", left.Items[0].Account)

	requireAudit(t, c, "session.kill", []credentials.AuditEvent{{
		Action: "session.kill", Target: "sessions/01JSESSIONA000000000000000",
		Detail: "account acme from 192.0.2.7:50022",
	}})
}

// TestOptionalDepsMissing runs a server built with the Service alone: the
// routes of the missing components answer 503 and say which is missing, but
// only to an authenticated client.
func TestOptionalDepsMissing(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, tc := range []struct {
		method, path string
		component    string
	}{
		{http.MethodGet, "/api/v1/uploads", "upload intake"},
		{http.MethodGet, "/api/v1/uploads/01JZZZZZZZZZZZZZZZZZZZZZZZ", "upload intake"},
		{http.MethodGet, "/api/v1/defender/bans", "brute-force defender"},
		{http.MethodDelete, "/api/v1/defender/bans/192.0.2.7", "brute-force defender"},
		{http.MethodGet, "/api/v1/defender/lockouts", "brute-force defender"},
		{http.MethodDelete, "/api/v1/defender/lockouts/acme", "brute-force defender"},
		{http.MethodGet, "/api/v1/sessions", "SFTP server"},
		{http.MethodDelete, "/api/v1/sessions/01JSESSIONA000000000000000", "SFTP server"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := env.c.doAs("", tc.method, tc.path, nil)
			require.Equal(t, http.StatusUnauthorized, r.status)
			r = env.c.do(tc.method, tc.path, nil)
			require.Equal(t, http.StatusServiceUnavailable, r.status)
			require.Equal(t, "this server runs no "+tc.component+": the route is not available here", r.problem(t).Detail)
		})
	}
	requireAudit(t, env.c, "session.kill", nil)
}

// TestOpsBadInput sends one bad request per case to the upload, defender
// and session routes and checks the status and the problem's detail.
func TestOpsBadInput(t *testing.T) {
	env := newOpsEnv(t)
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantDetail string // exact, or a prefix when it ends with "…"
		wantField  string // for 422: the errors[0].field
	}{
		{name: "unknown upload status", method: "GET", path: "/api/v1/uploads?status=done",
			wantStatus: 422, wantDetail: `status: must be received, processing, ready, rejected or failed (got "done")`, wantField: "status"},
		{name: "invalid account filter", method: "GET", path: "/api/v1/uploads?account=Acme%20Corp",
			wantStatus: 422, wantDetail: "account: must match …", wantField: "account"},
		{name: "upload cursor not base64", method: "GET", path: "/api/v1/uploads?cursor=%21%21",
			wantStatus: 422, wantDetail: "cursor: invalid cursor: use the next value of a previous page", wantField: "cursor"},
		{name: "upload cursor of another list", method: "GET", path: "/api/v1/uploads?cursor=YWNtZQ",
			wantStatus: 422, wantDetail: "cursor: invalid cursor: use the next value of a previous page", wantField: "cursor"},
		{name: "upload limit too big", method: "GET", path: "/api/v1/uploads?limit=1001",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
		{name: "unknown upload", method: "GET", path: "/api/v1/uploads/nope",
			wantStatus: 404, wantDetail: `upload "nope": not found`},
		{name: "ban cursor not base64", method: "GET", path: "/api/v1/defender/bans?cursor=%21%21",
			wantStatus: 422, wantDetail: "cursor: invalid cursor: use the next value of a previous page", wantField: "cursor"},
		{name: "ban limit zero", method: "GET", path: "/api/v1/defender/bans?limit=0",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
		{name: "lift a ban of a name", method: "DELETE", path: "/api/v1/defender/bans/example.com",
			wantStatus: 422, wantDetail: "addr: must be an IPv4 or IPv6 address, such as 192.0.2.7 or 2001:db8::7", wantField: "addr"},
		{name: "lift a ban of an address out of range", method: "DELETE", path: "/api/v1/defender/bans/192.0.2.256",
			wantStatus: 422, wantDetail: "addr: must be an IPv4 or IPv6 address, such as 192.0.2.7 or 2001:db8::7", wantField: "addr"},
		{name: "lift a ban of an address with a port", method: "DELETE", path: "/api/v1/defender/bans/192.0.2.7:22",
			wantStatus: 422, wantDetail: "addr: must be an IPv4 or IPv6 address, such as 192.0.2.7 or 2001:db8::7", wantField: "addr"},
		{name: "lift a ban that does not exist", method: "DELETE", path: "/api/v1/defender/bans/192.0.2.200",
			wantStatus: 404, wantDetail: "ban of address 192.0.2.200: not found"},
		{name: "lockout limit not a number", method: "GET", path: "/api/v1/defender/lockouts?limit=all",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
		{name: "lockout cursor not base64", method: "GET", path: "/api/v1/defender/lockouts?cursor=%3D",
			wantStatus: 422, wantDetail: "cursor: invalid cursor: use the next value of a previous page", wantField: "cursor"},
		{name: "lift a lockout that does not exist", method: "DELETE", path: "/api/v1/defender/lockouts/a%2Fb",
			wantStatus: 404, wantDetail: `lockout of account "a/b": not found`},
		{name: "session cursor not base64", method: "GET", path: "/api/v1/sessions?cursor=%2A",
			wantStatus: 422, wantDetail: "cursor: invalid cursor: use the next value of a previous page", wantField: "cursor"},
		{name: "session limit negative", method: "GET", path: "/api/v1/sessions?limit=-1",
			wantStatus: 400, wantDetail: "limit: must be an integer from 1 to 1000"},
		{name: "end a session that does not exist", method: "DELETE", path: "/api/v1/sessions/nope",
			wantStatus: 404, wantDetail: `session "nope": not found`},
		{name: "post to sessions", method: "POST", path: "/api/v1/sessions",
			wantStatus: 405, wantDetail: "method not allowed on this resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.c.do(tc.method, tc.path, nil)
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
