package blob

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// testServer is a real nats-server with JetStream in the test process on a
// loopback port, its store in a temporary folder.
type testServer struct {
	t    testing.TB
	dir  string
	opts *server.Options // port fixed after the first start
	srv  *server.Server
}

// startServer starts a single server; it is shut down when the test ends.
func startServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir()}
	s.start(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: s.dir, NoSigs: true, NoLog: true})
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start(opts *server.Options) {
	s.t.Helper()
	srv, err := server.NewServer(opts)
	require.NoError(s.t, err)
	srv.Start()
	require.True(s.t, srv.ReadyForConnections(10*time.Second), "nats-server ready")
	s.srv = srv
	opts.Port = srv.Addr().(*net.TCPAddr).Port
	s.opts = opts
}

// stop shuts the server down; it is idempotent.
func (s *testServer) stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// connect returns a JetStream context on a connection to urls that
// reconnects forever and fails publishes at once while disconnected, as
// broker's does, closed when the test ends.
func connect(t testing.TB, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1), nats.DontRandomize())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// newObjects returns an Objects store with chunk size chunk on a server of
// its own.
func newObjects(t testing.TB, chunk int) *Objects {
	t.Helper()
	js := connect(t, startServer(t).srv.ClientURL())
	cfg := DefaultObjectsConfig()
	if chunk > 0 {
		cfg.ChunkSize = chunk
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	o, err := OpenObjects(ctx, js, cfg)
	require.NoError(t, err)
	return o
}

// messages counts the messages of o's stream on chunk subjects and on
// metadata subjects.
func (o *Objects) messages(t testing.TB) (chunks, metas int) {
	t.Helper()
	count := func(filter string) int {
		info, err := o.stream.Info(t.Context(), jetstream.WithSubjectFilter(filter))
		require.NoError(t, err)
		n := 0
		for _, c := range info.State.Subjects {
			n += int(c)
		}
		return n
	}
	return count("$O." + o.cfg.Bucket + ".C.>"), count("$O." + o.cfg.Bucket + ".M.>")
}

// chunkSubjects counts the objects that have chunks in o's stream.
func (o *Objects) chunkSubjects(t testing.TB) int {
	t.Helper()
	info, err := o.stream.Info(t.Context(), jetstream.WithSubjectFilter("$O."+o.cfg.Bucket+".C.>"))
	require.NoError(t, err)
	return len(info.State.Subjects)
}

// cluster is three nats-servers with JetStream forming one cluster.
type cluster struct {
	nodes []*testServer
	opts  []*server.Options
}

// startCluster starts a three-node cluster on loopback ports; it is shut
// down when the test ends.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &cluster{}
	for i := range 3 {
		n := &testServer{t: t, dir: t.TempDir()}
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: n.dir, NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "sluice", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		n.start(opts)
		t.Cleanup(n.stop)
		c.nodes = append(c.nodes, n)
		c.opts = append(c.opts, opts)
	}
	return c
}

// urls returns the client URLs of the running nodes.
func (c *cluster) urls() string {
	s := ""
	for _, n := range c.nodes {
		if n.srv != nil {
			if s != "" {
				s += ","
			}
			s += n.srv.ClientURL()
		}
	}
	return s
}

// node returns the running node named name.
func (c *cluster) node(t testing.TB, name string) *testServer {
	t.Helper()
	for _, n := range c.nodes {
		if n.srv != nil && n.srv.Name() == name {
			return n
		}
	}
	t.Fatalf("no running node %q", name)
	return nil
}
