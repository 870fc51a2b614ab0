package admin

import (
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/internal/promtest"
)

func TestMetricsCountRequestsByRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := &fakeService{tokens: map[string]credentials.Credential{"tok": {Name: "root", Type: credentials.TypeAPIToken}}}
	s, err := New(DefaultConfig(), Deps{Service: svc, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, s.RegisterMetrics(reg))
	c := newAPIClient(t, s)

	requests := []struct {
		name   string
		token  string
		path   string
		route  string
		status int
	}{
		{name: "probe", path: "/healthz", route: "/healthz", status: http.StatusOK},
		{name: "no token", path: "/api/v1/accounts/secret-account-name", route: "/api/v1/accounts/:account", status: http.StatusUnauthorized},
		{name: "authenticated", token: "tok", path: "/api/v1/accounts", route: "/api/v1/accounts", status: http.StatusOK},
		{name: "no such route", path: "/wp-login.php/very/random/path", route: unmatchedRoute, status: http.StatusNotFound},
	}
	for _, r := range requests {
		require.Equal(t, r.status, c.doAs(r.token, http.MethodGet, r.path, nil).status, r.name)
	}

	resp := c.doAs("", http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, resp.status, "no token needed, like the probes")
	m, err := promtest.Parse(string(resp.body))
	require.NoError(t, err)
	for _, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			require.Equal(t, 1.0, m.Value("sluice_admin_requests_total", "route", r.route, "code", strconv.Itoa(r.status)))
			require.Equal(t, 1.0, m.Value("sluice_admin_request_duration_seconds", "route", r.route), "one observation")
		})
	}
	labels := m.LabelValues()
	require.NotContains(t, labels, "/api/v1/accounts/secret-account-name", "the route template, never the raw path")
	require.NotContains(t, labels, "/wp-login.php/very/random/path")

	// The scrape itself is counted by the next one.
	m, err = promtest.Parse(string(c.doAs("", http.MethodGet, "/metrics", nil).body))
	require.NoError(t, err)
	require.Equal(t, 1.0, m.Value("sluice_admin_requests_total", "route", "/metrics", "code", "200"))
}

func TestMetricsElsewhere(t *testing.T) {
	c := newAPIClient(t, newFakeServer(t, &fakeService{}))
	r := c.doAs("", http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, r.problem(t).Detail, "not served on this listener")
}
