package sshserver_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/internal/promtest"
)

func TestServerMetrics(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	reg := prometheus.NewRegistry()
	require.NoError(t, h.srv.RegisterMetrics(reg))
	require.Error(t, h.srv.RegisterMetrics(reg), "registering twice is an error, not a panic")
	h.auth.add(credentials.Account{Name: "acme"}, "pw")
	signer, err := ssh.NewSignerFromKey(newEd25519(t))
	require.NoError(t, err)

	count := func(name string, labels ...string) float64 {
		t.Helper()
		return promtest.Gather(t, reg).Value(name, labels...)
	}

	c, err := h.dial("acme", ssh.Password("pw"))
	require.NoError(t, err)
	require.Equal(t, 1.0, count("sluice_sftp_logins_total", "method", "password", "result", "ok"))
	require.Equal(t, 1.0, count("sluice_sftp_connections_active"))
	require.NoError(t, c.Close())
	waitFor(t, "the connection to end", func() bool { return count("sluice_sftp_connections_active") == 0 })

	_, err = h.dial("acme", ssh.Password("wrong"))
	require.Error(t, err)
	require.Equal(t, 1.0, count("sluice_sftp_logins_total", "method", "password", "result", "bad-credentials"))
	_, err = h.dial("acme", ssh.PublicKeys(signer))
	require.Error(t, err)
	require.Equal(t, 1.0, count("sluice_sftp_logins_total", "method", "publickey", "result", "unknown-key"))

	// A honeypot name bans the address; its next connection is refused
	// before the handshake.
	_, err = h.dial("root", ssh.Password("toor"))
	require.Error(t, err)
	require.Empty(t, h.probe(t))
	require.Equal(t, 1.0, count("sluice_sftp_connections_refused_total", "reason", "banned"))
	require.Zero(t, count("sluice_sftp_connections_refused_total", "reason", "max_connections"))

	// Every label is bounded: no user name reaches a label.
	labels := promtest.Gather(t, reg).LabelValues()
	require.NotContains(t, labels, "acme")
	require.NotContains(t, labels, "root")
}
