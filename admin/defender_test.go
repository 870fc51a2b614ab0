package admin

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

func TestDefenderBans(t *testing.T) {
	env := newOpsEnv(t)
	c, def := env.c, env.defender

	r := c.do(http.MethodGet, "/api/v1/defender/bans", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"items":[]}`, string(r.body))

	// A honeypot name bans at once; three failures ban too. IPv6 addresses
	// are banned by /64.
	require.True(t, def.Failure(mustAddr(t, "198.51.100.9"), "root"))
	require.True(t, def.Failure(mustAddr(t, "2001:db8::7"), "admin"))
	for i := range 3 {
		require.Equal(t, i == 2, def.Failure(mustAddr(t, "192.0.2.7"), "nobody"))
	}

	var bans list[banResponse]
	r = c.do(http.MethodGet, "/api/v1/defender/bans", nil)
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &bans)
	require.Empty(t, bans.Next)
	require.Len(t, bans.Items, 3)
	var addrs []string
	for _, b := range bans.Items {
		addrs = append(addrs, b.Addr)
		require.Equal(t, 1, b.Count)
		require.WithinDuration(t, time.Now().Add(15*time.Minute), b.Until, time.Minute)
	}
	require.Equal(t, []string{"192.0.2.7", "198.51.100.9", "2001:db8::"}, addrs, "by address, IPv4 first")
	require.Equal(t, "too many failed logins", bans.Items[0].Reason)
	require.Equal(t, "honeypot user name root", bans.Items[1].Reason)

	t.Run("pages", func(t *testing.T) {
		var first, second list[banResponse]
		r := c.do(http.MethodGet, "/api/v1/defender/bans?limit=2", nil)
		require.Equal(t, http.StatusOK, r.status)
		r.decode(t, &first)
		require.Len(t, first.Items, 2)
		require.NotEmpty(t, first.Next)
		// A ban that ends between two pages moves no other one.
		require.True(t, def.Lift(mustAddr(t, "192.0.2.7")))
		r = c.do(http.MethodGet, "/api/v1/defender/bans?limit=2&cursor="+url.QueryEscape(first.Next), nil)
		require.Equal(t, http.StatusOK, r.status)
		r.decode(t, &second)
		require.Len(t, second.Items, 1)
		require.Equal(t, "2001:db8::", second.Items[0].Addr)
		require.Empty(t, second.Next)
	})

	// Any address of a banned IPv6 prefix lifts its ban.
	r = c.do(http.MethodDelete, "/api/v1/defender/bans/2001:db8::1234", nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.False(t, def.Banned(mustAddr(t, "2001:db8::7")))
	r = c.do(http.MethodDelete, "/api/v1/defender/bans/198.51.100.9", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	require.False(t, def.Banned(mustAddr(t, "198.51.100.9")))

	r = c.do(http.MethodDelete, "/api/v1/defender/bans/198.51.100.9", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "ban of address 198.51.100.9: not found", r.problem(t).Detail)
	r = c.do(http.MethodGet, "/api/v1/defender/bans", nil)
	require.JSONEq(t, `{"items":[]}`, string(r.body))

	requireAudit(t, c, "ban.lift", []credentials.AuditEvent{
		{Action: "ban.lift", Target: "defender/bans/198.51.100.9"},
		{Action: "ban.lift", Target: "defender/bans/2001:db8::1234"},
	})
}

func TestDefenderLockouts(t *testing.T) {
	env := newOpsEnv(t)
	c, def := env.c, env.defender

	// Credential stuffing: one failure each from three addresses locks the
	// account name without banning any address.
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		require.False(t, def.Failure(mustAddr(t, a), "acme"))
	}
	require.False(t, def.Failure(mustAddr(t, "192.0.2.4"), "globex"))
	require.True(t, def.AccountLocked("acme"))

	r := c.do(http.MethodGet, "/api/v1/defender/lockouts", nil)
	require.Equal(t, http.StatusOK, r.status)
	var locks list[lockoutResponse]
	r.decode(t, &locks)
	require.Len(t, locks.Items, 1)
	require.Equal(t, "acme", locks.Items[0].Account)
	require.Equal(t, 1, locks.Items[0].Count)
	require.WithinDuration(t, time.Now().Add(5*time.Minute), locks.Items[0].Until, time.Minute)

	r = c.do(http.MethodDelete, "/api/v1/defender/lockouts/acme", nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.False(t, def.AccountLocked("acme"))

	for _, name := range []string{"acme", "globex"} {
		r = c.do(http.MethodDelete, "/api/v1/defender/lockouts/"+name, nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Equal(t, `lockout of account "`+name+`": not found`, r.problem(t).Detail)
	}
	r = c.do(http.MethodGet, "/api/v1/defender/lockouts", nil)
	require.JSONEq(t, `{"items":[]}`, string(r.body))

	requireAudit(t, c, "lockout.lift", []credentials.AuditEvent{{Action: "lockout.lift", Target: "defender/lockouts/acme"}})
}

// requireAudit checks the audit events of action on their action, target
// and detail (in any order: events of the same millisecond may come in any
// order), and that the test's admin "root" made them.
func requireAudit(t *testing.T, c *apiClient, action string, want []credentials.AuditEvent) {
	t.Helper()
	r := c.do(http.MethodGet, "/api/v1/audit?action="+url.QueryEscape(action), nil)
	require.Equal(t, http.StatusOK, r.status)
	var got list[credentials.AuditEvent]
	r.decode(t, &got)
	var seen []credentials.AuditEvent
	for _, ev := range got.Items {
		require.Equal(t, "root", ev.Actor)
		require.Equal(t, "ok", ev.Result)
		require.NotEmpty(t, ev.RequestID)
		seen = append(seen, credentials.AuditEvent{Action: ev.Action, Target: ev.Target, Detail: ev.Detail})
	}
	require.ElementsMatch(t, want, seen)
}
