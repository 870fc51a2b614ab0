package sshserver

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// limiter counts connections, in total and per source address, and
// authenticated sessions per account, against the configured caps (0:
// unlimited). It is safe for concurrent use.
type limiter struct {
	maxTotal, maxPerHost, maxPerAccount int

	mu       sync.Mutex
	total    int
	hosts    map[netip.Addr]int
	accounts map[string]int
}

func newLimiter(cfg Config) *limiter {
	return &limiter{
		maxTotal:      cfg.MaxConnections,
		maxPerHost:    cfg.MaxConnectionsPerHost,
		maxPerAccount: cfg.MaxSessionsPerAccount,
		hosts:         map[netip.Addr]int{},
		accounts:      map[string]int{},
	}
}

// acquireConn takes a connection slot for addr. When none is free it
// returns false and the reason; otherwise the caller must releaseConn.
func (l *limiter) acquireConn(addr netip.Addr) (ok bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return false, "max_connections"
	}
	if l.maxPerHost > 0 && l.hosts[addr] >= l.maxPerHost {
		return false, "max_connections_per_host"
	}
	l.total++
	l.hosts[addr]++
	return true, ""
}

// connections returns the number of connection slots taken.
func (l *limiter) connections() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *limiter) releaseConn(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.hosts[addr]--; l.hosts[addr] <= 0 {
		delete(l.hosts, addr)
	}
}

// acquireAccount takes a session slot of account; when it returns true the
// caller must releaseAccount.
func (l *limiter) acquireAccount(account string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxPerAccount > 0 && l.accounts[account] >= l.maxPerAccount {
		return false
	}
	l.accounts[account]++
	return true
}

func (l *limiter) releaseAccount(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accounts[account]--; l.accounts[account] <= 0 {
		delete(l.accounts, account)
	}
}

// epoch anchors activity times on the monotonic clock, so that a change of
// the wall clock never makes a connection look idle.
var epoch = time.Now()

// activityConn is a net.Conn that remembers when it last moved bytes. It
// costs one atomic store per Read and Write; deadlines are not touched on
// the data path.
type activityConn struct {
	net.Conn
	last atomic.Int64 // time.Since(epoch) of the last traffic
}

func newActivityConn(c net.Conn) *activityConn {
	a := &activityConn{Conn: c}
	a.touch()
	return a
}

func (c *activityConn) touch() { c.last.Store(int64(time.Since(epoch))) }

// idleFor returns how long the connection has moved no bytes.
func (c *activityConn) idleFor() time.Duration {
	return time.Since(epoch) - time.Duration(c.last.Load())
}

func (c *activityConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *activityConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// watchIdle calls onIdle once c has been idle for timeout, checking no more
// often than the remaining time needs. The returned func stops the watch.
func watchIdle(c *activityConn, timeout time.Duration, onIdle func()) (stop func()) {
	if timeout <= 0 {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	var check func()
	check = func() {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		if idle := c.idleFor(); idle < timeout {
			t = time.AfterFunc(timeout-idle, check)
			mu.Unlock()
			return
		}
		stopped = true
		mu.Unlock()
		onIdle()
	}
	mu.Lock()
	t = time.AfterFunc(timeout, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}
