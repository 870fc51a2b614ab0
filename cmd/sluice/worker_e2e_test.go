package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2EWorker runs the pipeline in a `sluice worker` process only: the
// serve node takes uploads with pipeline.workers 0, both share an external
// NATS server, the store and the data directory. The worker, a node of its
// own name, finishes the upload; the serve node, which received it, delivers
// the report and archives the original.
func TestE2EWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test: -short")
	}
	ns := startNATS(t)
	s := startSFTPServer(t, map[string]string{"SLUICE_NATS_URL": ns.url(), "SLUICE_PIPELINE_WORKERS": "0"})
	waitUntil(t, 20*time.Second, "serve to say it runs no workers", func() bool {
		return strings.Contains(s.logs.String(), "no pipeline workers in this process")
	})
	a := s.newAccount(t, "acme", nil)
	s.api(t, http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed, http.StatusCreated)

	bin, err := buildSluice()
	require.NoError(t, err)
	cmd := exec.Command(bin, "worker")
	cmd.Env = append(os.Environ(), "SLUICE_DATA_DIR="+s.dataDir, "SLUICE_NATS_URL="+ns.url(),
		"SLUICE_PIPELINE_WORKERS=1", "SLUICE_PIPELINE_INTAKE_NODE=worker-1", "SLUICE_SFTP_LISTEN=127.0.0.1:0",
		"SLUICE_ADMIN_LISTEN=127.0.0.1:0", "SLUICE_METRICS_LISTEN=127.0.0.1:0", "SLUICE_NATS_LISTEN=")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	waitUntil(t, 30*time.Second, "the worker to start", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("sluice worker exited: %v\n%s", err, logs.String())
		default:
		}
		return len(metricsListenAddr.FindStringSubmatch(logs.String())) > 0 &&
			len(regexpWorkersStarted.FindString(logs.String())) > 0
	})

	id := s.putFile(t, a, writeIn(t, t.TempDir(), "w.csv", goodOrders), "/orders/w.csv")
	u := s.final(t, id, 1)
	require.Equal(t, "ready", u.Status, u.Error)
	require.Contains(t, logs.String(), `msg="upload processed"`, "the worker did the work")
	require.NotContains(t, s.logs.String(), `msg="upload processed"`)
	_, err = os.Stat(a.home + "/reports/w.csv." + id + ".json")
	require.NoError(t, err, "the receiving node delivered the report")

	// SIGTERM stops the worker cleanly.
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case err := <-exited:
		require.NoError(t, err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	exited <- nil // for the cleanup
}

var regexpWorkersStarted = regexp.MustCompile(`pipeline workers started`)
