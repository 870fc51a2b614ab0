package main

import (
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/internal/promtest"
)

// TestE2EMetrics scrapes /metrics of a real `sluice serve` after an OpenSSH
// upload and a failed login, as Prometheus would.
func TestE2EMetrics(t *testing.T) {
	s := startSFTPServer(t, nil)
	acme := s.newAccount(t, "acme", nil)
	before := promtest.Scrape(t, "http://"+s.addr+"/metrics")
	require.Zero(t, before.Value("sluice_sftp_uploads_total"))

	const size = 100 << 10
	dir := t.TempDir()
	randomFile(t, dir, "orders.csv", size)
	out, err := s.runSFTP(t, acme, byKey, dir, "put orders.csv\n")
	require.NoError(t, err, out)
	_, err = s.dialSSH(acme.name, ssh.Password("not the password"))
	require.Error(t, err)

	text := promtest.ScrapeText(t, "http://"+s.addr+"/metrics")
	m, err := promtest.Parse(text)
	require.NoError(t, err)

	require.Equal(t, 1.0, m.Value("sluice_sftp_uploads_total", "result", "ok"))
	require.Equal(t, 1.0, m.Value("sluice_sftp_uploads_total"), "and no other outcome")
	require.Equal(t, float64(size), m.Value("sluice_sftp_bytes_received_total"))
	require.Equal(t, 1.0, m.Value("sluice_sftp_upload_duration_seconds"), "one observation")
	require.Equal(t, 1.0, m.Value("sluice_sftp_logins_total", "method", "publickey", "result", "ok"))
	require.Equal(t, 1.0, m.Value("sluice_sftp_logins_total", "method", "password", "result", "bad-credentials"))
	require.Equal(t, 1.0, m.Value("sluice_nats_connected"))
	require.Zero(t, m.Value("sluice_defender_banned_hosts"))
	require.Equal(t, 1.0, m.Value("sluice_admin_requests_total", "route", "/api/v1/accounts", "code", "201"))
	require.Equal(t, 2.0, m.Value("sluice_admin_requests_total", "route", "/api/v1/accounts/:account/credentials", "code", "201"))
	require.Equal(t, 1.0, m.Value("sluice_build_info"))
	require.Positive(t, m.Value("sluice_data_dir_free_bytes"))
	require.GreaterOrEqual(t, m.Value("sluice_data_dir_size_bytes"), m.Value("sluice_data_dir_free_bytes"))
	require.Positive(t, m.Value("go_goroutines"), "the Go runtime collector")
	require.Positive(t, m.Value("process_resident_memory_bytes"), "the process collector")

	labels := m.LabelValues()
	require.NotContains(t, labels, "acme", "no account name in SFTP or admin labels")
	require.NotContains(t, labels, "/orders.csv")
	require.NotContains(t, labels, "/api/v1/accounts/acme/credentials", "route templates, not paths")

	// Names follow Prometheus' conventions (promlint: units, _total, …).
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	require.NoError(t, err)
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sluice_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}

	// Exactly one log line tells the upload's outcome.
	require.Equal(t, 1, s.logLines(t, `msg="upload ended" component=sftpfs session=\S+ account=acme remote=\S+ path=/orders.csv size=102400 duration=\S+ result=ok upload=\S+$`), s.logs.String())
	require.Equal(t, 1, s.logLines(t, `msg="upload ended"`))
}

// TestE2EPipelineMetrics scrapes a server whose pipeline processed an upload
// of a feed that expects a file every day, and checks that every metric the
// shipped alert rules and dashboard name is exported.
func TestE2EPipelineMetrics(t *testing.T) {
	s := startSFTPServer(t, map[string]string{"SLUICE_PIPELINE_WORKERS": "1"})
	acme := s.newAccount(t, "acme", nil)
	feed := maps.Clone(ordersFeed)
	feed["expected_every"] = "24h"
	s.api(t, http.MethodPut, "/api/v1/accounts/acme/feeds/orders", feed, http.StatusCreated)
	dir := t.TempDir()
	id := s.putFile(t, acme, writeIn(t, dir, "day.csv", goodOrders), "/orders/day.csv")
	u := s.final(t, id, 1)
	require.Equal(t, "ready", u.Status)

	m := promtest.Scrape(t, "http://"+s.addr+"/metrics")
	require.Equal(t, 1.0, m.Value("sluice_pipeline_files_total", "stage", "csv", "outcome", "ok"))
	require.Equal(t, float64(len(goodOrders)), m.Value("sluice_pipeline_bytes_total", "stage", "csv"))
	require.Equal(t, 1.0, m.Value("sluice_upload_to_ready_seconds"), "one observation")
	require.Equal(t, 1.0, m.Value("sluice_pipeline_stage_duration_seconds", "stage", "csv"), "one observation")
	require.Zero(t, m.Value("sluice_pipeline_failed_total"))
	require.Equal(t, 86400.0, m.Value("sluice_feed_expected_interval_seconds", "account", "acme", "feed", "orders"))
	require.InDelta(t, float64(time.Now().Unix()), m.Value("sluice_feed_last_success_timestamp_seconds", "account", "acme", "feed", "orders"), 120)

	requireKnownMetrics(t, m, "../../configs/prometheus/alerts.yml", "../../configs/grafana/sluice.json")
}

// requireKnownMetrics checks that every Sluice, Go and process metric the
// files name is one the server exports (or the pipeline runner does), so
// that a renamed metric cannot silently empty a panel or disarm an alert.
func requireKnownMetrics(t *testing.T, m promtest.Metrics, files ...string) {
	t.Helper()
	name := regexp.MustCompile(`\b(?:sluice|go|process)_[a-z0-9_]+\b`)
	suffix := regexp.MustCompile(`_(?:bucket|sum|count)$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.HasSuffix(f, ".json") {
			require.True(t, json.Valid(data), "%s is not valid JSON", f)
		}
		found := 0
		for _, n := range slices.Compact(slices.Sorted(slices.Values(name.FindAllString(string(data), -1)))) {
			base := suffix.ReplaceAllString(n, "")
			known := m.Has(n) || m.Has(base)
			require.True(t, known, "%s names %s, which no Sluice process exports", f, n)
			found++
		}
		require.Positive(t, found, "%s names no metric", f)
	}
}

var metricsListenAddr = regexp.MustCompile(`metrics listening"? addr=(\S+)`)

// TestE2EMetricsListen serves /metrics on metrics.listen instead of the
// admin listener.
func TestE2EMetricsListen(t *testing.T) {
	s := startServer(t, map[string]string{"SLUICE_METRICS_LISTEN": "127.0.0.1:0"})
	var addr string
	waitUntil(t, 10*time.Second, "the metrics listener", func() bool {
		m := metricsListenAddr.FindStringSubmatch(s.logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	m := promtest.Scrape(t, "http://"+addr+"/metrics")
	require.Equal(t, 1.0, m.Value("sluice_build_info"))
	require.True(t, m.Has("sluice_sftp_uploads_total"))

	code, body := s.call(t, "", http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusNotFound, code, "not on the admin listener: %s", body)
	resp, err := http.Get("http://" + addr + "/api/v1/accounts")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the metrics listener serves nothing else")
}

func TestHealthCommand(t *testing.T) {
	s := startServer(t, nil)
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unready.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	tests := []struct {
		name    string
		args    []string
		env     string // SLUICE_ADMIN_LISTEN
		wantErr string
	}{
		{name: "ready", args: []string{"--addr", s.addr}},
		{name: "address from the configuration", env: s.addr},
		{name: "wildcard host", env: "0.0.0.0:" + port(t, s.addr)},
		{name: "not ready", args: []string{"--addr", strings.TrimPrefix(unready.URL, "http://")}, wantErr: "503 Service Unavailable"},
		{name: "nothing listens", args: []string{"--addr", closed}, wantErr: "connection refused"},
		{name: "no fixed port", env: "127.0.0.1:0", wantErr: "not host:port with a fixed port"},
		{name: "timeout", args: []string{"--addr", s.addr, "--timeout", "1ns"}, wantErr: "not ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SLUICE_ADMIN_LISTEN", tc.env)
			}
			var out, errOut strings.Builder
			err := run(t.Context(), append([]string{"health"}, tc.args...), &out, &errOut)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Empty(t, out.String())
				return
			}
			require.NoError(t, err)
			require.Equal(t, "ready\n", out.String())
		})
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}
