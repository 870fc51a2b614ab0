package sshserver

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiter(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name  string
		cfg   Config
		conns []netip.Addr // acquired in order
		want  []string     // "" for acquired, else the limit
	}{
		{"unlimited", Config{}, []netip.Addr{a, a, a, b}, []string{"", "", "", ""}},
		{"per host", Config{MaxConnectionsPerHost: 2}, []netip.Addr{a, a, a, b}, []string{"", "", "max_connections_per_host", ""}},
		{"global", Config{MaxConnections: 3}, []netip.Addr{a, b, a, b}, []string{"", "", "", "max_connections"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.cfg)
			for i, addr := range tc.conns {
				ok, reason := l.acquireConn(addr)
				require.Equal(t, tc.want[i] == "", ok, "conn %d", i)
				require.Equal(t, tc.want[i], reason, "conn %d", i)
			}
			for i, addr := range tc.conns {
				if tc.want[i] == "" {
					l.releaseConn(addr)
				}
			}
			require.Zero(t, l.total)
			require.Empty(t, l.hosts)
		})
	}

	t.Run("per account", func(t *testing.T) {
		l := newLimiter(Config{MaxSessionsPerAccount: 2})
		require.True(t, l.acquireAccount("acme"))
		require.True(t, l.acquireAccount("acme"))
		require.False(t, l.acquireAccount("acme"))
		require.True(t, l.acquireAccount("other"))
		l.releaseAccount("acme")
		require.True(t, l.acquireAccount("acme"))
		l.releaseAccount("acme")
		l.releaseAccount("acme")
		l.releaseAccount("other")
		require.Empty(t, l.accounts)
	})
}

func TestWatchIdle(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	ac := newActivityConn(server)
	var fired atomic.Int64
	start := time.Now()
	stop := watchIdle(ac, 400*time.Millisecond, func() { fired.Store(int64(time.Since(start))) })
	defer stop()
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := ac.Read(buf); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 5 { // traffic for 500 ms
		<-tick.C
		_, err := client.Write([]byte{1})
		require.NoError(t, err)
	}
	require.Zero(t, fired.Load(), "traffic resets the idle timer")
	require.Eventually(t, func() bool { return fired.Load() != 0 }, 5*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, time.Duration(fired.Load()), 900*time.Millisecond)

	t.Run("stopped watch never fires", func(t *testing.T) {
		var n atomic.Int32
		stop := watchIdle(newActivityConn(server), 20*time.Millisecond, func() { n.Add(1) })
		stop()
		require.Never(t, func() bool { return n.Load() != 0 }, 60*time.Millisecond, 5*time.Millisecond)
	})
	t.Run("zero timeout disables", func(t *testing.T) {
		watchIdle(ac, 0, func() { t.Error("fired") })()
	})
}
