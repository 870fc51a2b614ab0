package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2ENATSDownAtClose runs Sluice against an external NATS server that
// goes down before a file is closed: the close still succeeds, the upload is
// recorded, and once the server is back (same port, same store) the received
// event is published exactly once.
func TestE2ENATSDownAtClose(t *testing.T) {
	requireTools(t, "sftp", "ssh")
	ns := startNATS(t)
	s := startSFTPServer(t, map[string]string{
		"SLUICE_NATS_URL":            ns.url(),
		"SLUICE_NATS_RECONNECT_WAIT": "200ms",
		// Only the reconnect can publish the event in time, not a periodic sweep.
		"SLUICE_PIPELINE_INTAKE_SWEEP_INTERVAL": "1h",
	})
	acme := s.newAccount(t, "acme", nil)
	local := t.TempDir()
	sumBefore := randomFile(t, local, "before.bin", 10_000)
	sumDown := randomFile(t, local, "down.bin", 20_000)

	// With NATS up the event is out at once.
	before := watchEvents(t, ns.url(), acme.name)
	out, err := s.runSFTP(t, acme, byKey, local, "put before.bin")
	require.NoError(t, err, out)
	got := before.wait(t, 1, 20*time.Second)
	requireUpload(t, got[0], acme.name, "/before.bin", 10_000, sumBefore)

	ns.stop()
	start := time.Now()
	out, err = s.runSFTP(t, acme, byKey, local, "put down.bin")
	require.NoError(t, err, "the close succeeds with NATS down: %s", out)
	t.Logf("put with NATS down took %s", time.Since(start).Round(time.Millisecond))
	require.Equal(t, sumDown, fileSHA256(t, filepath.Join(acme.home, "down.bin")))
	require.Equal(t, 1, s.logLines(t, `msg="upload ended" .*path=/down.bin .*result=ok upload=`), "recorded")
	// The close does not wait for NATS: the outbox publisher fails in the
	// background and keeps the event for later.
	require.Eventually(t, func() bool {
		return s.logLines(t, `msg="outbox publish (partly )?failed`) >= 1
	}, 20*time.Second, 50*time.Millisecond, "the publisher noticed NATS is down")

	ns.start() // same port, same store: the stream and its dedupe state survive
	start = time.Now()
	after := watchEvents(t, ns.url(), acme.name)
	got = after.wait(t, 2, 30*time.Second) // the sweep on reconnect publishes it; exactly once
	t.Logf("event published %s after NATS came back", time.Since(start).Round(time.Millisecond))
	requireUpload(t, got[0], acme.name, "/before.bin", 10_000, sumBefore)
	requireUpload(t, got[1], acme.name, "/down.bin", 20_000, sumDown)
	require.Equal(t, got[0].MsgID, before.snapshot()[0].MsgID, "the first event is the one seen before")
}
