package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// natsMetrics is the exposition of the broker's metrics with the given
// values.
func natsMetrics(connected, reconnects int) string {
	return fmt.Sprintf(`# HELP sluice_nats_connected 1 while the NATS connection is up, 0 while it is reconnecting or closed.
# TYPE sluice_nats_connected gauge
sluice_nats_connected %d
# HELP sluice_nats_reconnects_total Times the NATS connection was re-established after a disconnect.
# TYPE sluice_nats_reconnects_total counter
sluice_nats_reconnects_total %d
`, connected, reconnects)
}

func TestMetricsFollowTheConnection(t *testing.T) {
	dir := t.TempDir()
	srv := runServer(t, dir, -1, true)
	port := serverPort(t, srv)
	b := startBroker(t, externalConfig(srv.ClientURL()))
	reg := prometheus.NewRegistry()
	require.NoError(t, b.RegisterMetrics(reg))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	expect := func(connected, reconnects int) func() bool {
		return func() bool {
			return testutil.GatherAndCompare(reg, strings.NewReader(natsMetrics(connected, reconnects))) == nil
		}
	}
	require.Eventually(t, expect(1, 0), 10*time.Second, 10*time.Millisecond)

	srv.Shutdown()
	srv.WaitForShutdown()
	require.Eventually(t, expect(0, 0), 10*time.Second, 10*time.Millisecond, "disconnected")

	runServer(t, dir, port, true)
	require.Eventually(t, expect(1, 1), 10*time.Second, 10*time.Millisecond, "reconnected")

	b.Close()
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(natsMetrics(0, 1))), "closed")
}
