package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store/storetest"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsCluster is an in-process cluster of nats-servers with JetStream.
type natsCluster struct {
	servers []*natsserver.Server
	urls    []string
}

// startNATSCluster starts n clustered nats-servers with JetStream in the
// test process and waits until JetStream has a leader.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	routes := make([]int, n)
	for i := range routes {
		routes[i] = freePort(t)
	}
	var routeURLs []*url.URL
	for _, p := range routes {
		routeURLs = append(routeURLs, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &natsCluster{}
	for i := range n {
		srv, err := natsserver.NewServer(&natsserver.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: natsserver.ClusterOpts{Name: "sluice", Host: "127.0.0.1", Port: routes[i]},
			Routes:  routeURLs,
		})
		require.NoError(t, err)
		srv.Start()
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		c.servers = append(c.servers, srv)
	}
	for _, srv := range c.servers {
		require.True(t, srv.ReadyForConnections(20*time.Second))
		c.urls = append(c.urls, srv.ClientURL())
	}
	waitUntil(t, 30*time.Second, "a JetStream meta leader", func() bool {
		for _, srv := range c.servers {
			if srv.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return c
}

// TestE2ECluster runs Sluice past one machine: a three-node NATS cluster
// (streams and the blob bucket at three replicas), PostgreSQL, and two
// `sluice serve` nodes taking uploads over SFTP. In the middle of 200
// uploads one NATS node and one Sluice node are killed; every upload still
// reaches exactly one final state, and once the Sluice node is back, it
// delivers the reports of the uploads it had received.
func TestE2ECluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: -short")
	}
	const total = 200
	pg := storetest.Postgres(t)
	bin, err := buildSluice()
	require.NoError(t, err)
	cluster := startNATSCluster(t, 3)
	mk, err := credentials.GenerateMasterKey()
	require.NoError(t, err)
	dsn := pg.DSN(t)
	env := func(node string) map[string]string {
		return map[string]string{
			"SLUICE_NATS_URL": strings.Join(cluster.urls, ","), "SLUICE_NATS_LISTEN": "", "SLUICE_NATS_REPLICAS": "3",
			"SLUICE_STORE_DRIVER": "postgres", "SLUICE_STORE_DSN": dsn,
			"SLUICE_BLOB_DRIVER": "nats", "SLUICE_MASTER_KEY": mk.Base64(),
			"SLUICE_PIPELINE_INTAKE_NODE": node, "SLUICE_PIPELINE_WORKERS": "2",
		}
	}
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := startProcess(t, bin, dirA, env("node-a"))
	// Node b starts once a made the streams and its consumers: a stream
	// update racing a consumer creation trips nats-server's race detector
	// in this test process (both nodes update the streams at start).
	waitUntil(t, 60*time.Second, "node a's workers", func() bool {
		return strings.Contains(a.logs.String(), "pipeline workers started")
	})
	b := startProcess(t, bin, dirB, env("node-b"))
	a.api(t, http.MethodPost, "/api/v1/accounts", map[string]any{"name": "acme"}, http.StatusCreated)
	a.api(t, http.MethodPost, "/api/v1/accounts/acme/credentials", map[string]any{"name": "login", "type": "password", "password": e2ePassword}, http.StatusCreated)
	b.api(t, http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed, http.StatusCreated)
	good, bad := csvPayloads(64 << 10)

	var (
		next   atomic.Int64
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	upload := func(p *process) {
		c, err := p.sftpClient("acme")
		if err != nil {
			return
		}
		defer func() { c.Close() }()
		for {
			i := next.Add(1)
			if i > total || (killed.Load() && p == b) {
				return
			}
			body := good
			if i%9 == 0 {
				body = bad
			}
			name := fmt.Sprintf("/orders/c%04d.csv", i)
			for try := 1; ; try++ {
				err := put(c, name, body)
				if err == nil {
					break
				}
				if p == b {
					return // killed
				}
				// A close refused while NATS fails over tells the client
				// to upload again, as a customer's client would.
				t.Logf("upload %d to node a, try %d: %v", i, try, err)
				if try == 5 {
					t.Errorf("upload %d to node a failed 5 times: %v", i, err)
					return
				}
				time.Sleep(time.Second)
				c.Close()
				if c, err = p.sftpClient("acme"); err != nil {
					t.Errorf("reconnect to node a: %v", err)
					return
				}
			}
		}
	}
	for _, p := range []*process{a, a, b, b} {
		wg.Go(func() { upload(p) })
	}
	waitUntil(t, 120*time.Second, "a third of the uploads", func() bool { return next.Load() > total/3 })
	// One NATS node and one Sluice node die.
	cluster.servers[2].Shutdown()
	killed.Store(true)
	b.kill()
	wg.Wait()
	// Node a takes the rest.
	c, err := a.sftpClient("acme")
	require.NoError(t, err)
	for len(a.allUploads(t, "acme")) < total {
		require.NoError(t, put(c, fmt.Sprintf("/orders/c%04d.csv", next.Add(1)), good))
	}
	c.Close()

	var uploads []uploadView
	waitUntil(t, 180*time.Second, "every upload to reach a final state", func() bool {
		uploads = a.allUploads(t, "acme")
		for _, u := range uploads {
			if u.FinishedAt == "" {
				return false
			}
		}
		return true
	})
	require.Len(t, uploads, total)
	for _, u := range uploads {
		want := "ready"
		var i int
		_, err := fmt.Sscanf(filepath.Base(u.Path), "c%04d.csv", &i)
		require.NoError(t, err)
		if i%9 == 0 {
			want = "rejected"
		}
		require.Equal(t, want, u.Status, "%s: %s", u.Path, u.Error)
	}

	// Node b comes back and delivers what it had received.
	b = startProcess(t, bin, dirB, env("node-b"))
	waitUntil(t, 60*time.Second, "every upload delivered", func() bool {
		uploads = b.allUploads(t, "acme")
		for _, u := range uploads {
			if u.ArchivedAt == "" {
				return false
			}
		}
		return true
	})
}
