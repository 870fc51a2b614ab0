package sshserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/defender"
)

// HandlerProvider gives each SFTP session its file system.
type HandlerProvider interface {
	// Handlers returns the SFTP handlers for one session and a func the server calls when the
	// SFTP subsystem ends (normal end or disconnect).
	Handlers(ctx context.Context, s *Session) (sftp.Handlers, func(), error)
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("sshserver: server closed")

// serverVersion is the identification string sent to clients. It names no
// library or version an attacker could look up.
const serverVersion = "SSH-2.0-Sluice"

// drainPoll is how often a shutdown looks for sessions that became idle.
const drainPoll = 50 * time.Millisecond

// Server is the SSH server that serves SFTP to customers. It is safe for
// concurrent use. Serve may be called once; Sessions, Kill and Close at any
// time.
type Server struct {
	cfg      Config
	auth     Authenticator
	files    HandlerProvider
	def      *defender.Defender
	audit    Auditor
	logger   *slog.Logger
	hostKeys []ssh.Signer
	limits   *limiter
	metrics  *serverMetrics

	mu       sync.Mutex
	conns    map[string]*conn
	ln       net.Listener
	serving  bool
	draining bool
	closed   bool
	wg       sync.WaitGroup // one per connection goroutine
}

// New validates cfg, loads (or generates) the host keys and returns a
// Server. auth and files are required; def may be nil (no defender) and
// audit may be nil (no audit trail). A nil logger discards logs. New blocks
// while it generates host keys on first start (an RSA key takes a moment).
func New(cfg Config, auth Authenticator, files HandlerProvider, def *defender.Defender, audit Auditor, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if auth == nil {
		return nil, errors.New("sshserver: nil Authenticator")
	}
	if files == nil {
		return nil, errors.New("sshserver: nil HandlerProvider")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "sshserver")
	keys, err := loadHostKeys(cfg, logger)
	if err != nil {
		return nil, err
	}
	limits := newLimiter(cfg)
	return &Server{
		cfg:      cfg,
		auth:     auth,
		files:    files,
		def:      def,
		audit:    audit,
		logger:   logger,
		hostKeys: keys,
		limits:   limits,
		metrics:  newServerMetrics(limits),
		conns:    map[string]*conn{},
	}, nil
}

// HostKeys returns the public halves of the server's host keys, for
// known_hosts files and tests.
func (s *Server) HostKeys() []ssh.PublicKey {
	out := make([]ssh.PublicKey, len(s.hostKeys))
	for i, k := range s.hostKeys {
		out[i] = k.PublicKey()
	}
	return out
}

// Serve accepts connections on ln until ctx is cancelled or ln fails. It
// then shuts down gracefully: it stops accepting, closes connections that
// have no SFTP transfer in flight at once and the others as soon as their
// transfers end, and after ShutdownTimeout closes whatever remains. It
// returns nil when the drain finished in time, an error naming the sessions
// cut off otherwise, and ErrServerClosed after Close. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	case s.serving:
		s.mu.Unlock()
		return errors.New("sshserver: Serve called twice")
	}
	s.serving, s.ln = true, ln
	s.mu.Unlock()
	s.logger.Info("sftp server listening", "addr", ln.Addr().String())

	acceptErr := make(chan error, 1)
	go func() { acceptErr <- s.acceptLoop(ctx, ln) }()
	var err error
	select {
	case err = <-acceptErr:
	case <-ctx.Done():
		ln.Close()
		<-acceptErr
	}
	if s.isClosed() {
		s.wg.Wait()
		return ErrServerClosed
	}
	if derr := s.drain(); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// acceptLoop accepts connections until ln is closed (nil) or fails (the
// error). Transient failures, such as running out of file descriptors, are
// retried with back-off. Connections outlive ctx: a shutdown drains them.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) error {
	connCtx := context.WithoutCancel(ctx)
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !transient(err) {
				return fmt.Errorf("accept sftp connections on %s: %w", ln.Addr(), err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logger.Warn("accept failed; retrying", "err", err, "delay", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(connCtx, nc)
		}()
	}
}

// transient reports whether an Accept error is worth retrying.
func transient(err error) bool {
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EMFILE) ||
		errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// drain closes idle connections until none is left, or closes them all at
// ShutdownTimeout. Called once the listener is closed: no connection is
// added any more.
func (s *Server) drain() error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.logger.Info("sftp server shutting down", "timeout", s.cfg.ShutdownTimeout)

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	deadline := time.NewTimer(s.cfg.ShutdownTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		for _, c := range s.connList() {
			if !c.busy() {
				c.close()
			}
		}
		select {
		case <-done:
			s.logger.Info("sftp server stopped")
			return nil
		case <-tick.C:
		case <-deadline.C:
			cut := s.connList()
			for _, c := range cut {
				c.close()
			}
			<-done
			ids := make([]string, len(cut))
			for i, c := range cut {
				ids[i] = c.id
			}
			return fmt.Errorf("shut down sftp server: %d session(s) still transferring after %s were cut off: %s",
				len(cut), s.cfg.ShutdownTimeout, strings.Join(ids, ", "))
		}
	}
}

// Close closes the listener and every connection at once, without draining,
// and waits for their goroutines. It is idempotent and always returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	for _, c := range s.connList() {
		c.close()
	}
	s.wg.Wait()
	return nil
}

// Sessions returns the authenticated connections, oldest first.
func (s *Server) Sessions() []Session {
	out := []Session{}
	for _, c := range s.connList() {
		if sess, ok := c.session(); ok {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b Session) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Kill ends the authenticated session id at once, as a disconnect would: an
// upload in flight is cut off and not handed on. It reports whether the
// session existed.
func (s *Server) Kill(id string) bool {
	s.mu.Lock()
	c, ok := s.conns[id]
	s.mu.Unlock()
	if !ok {
		return false
	}
	if _, authed := c.session(); !authed {
		return false
	}
	s.logger.Info("session killed", "session", id)
	c.close()
	return true
}

func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining || s.closed
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// handle runs one connection from accept to close: the ban and limit checks
// before the handshake, the handshake under its deadline, then the channels
// under the idle timeout.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	remote := addrPort(nc.RemoteAddr())
	addr := remote.Addr()
	if s.def.Banned(addr) {
		s.logger.Debug("banned address dropped", "remote", remote.String())
		s.metrics.refused.WithLabelValues("banned").Inc()
		nc.Close()
		return
	}
	if ok, limit := s.limits.acquireConn(addr); !ok {
		s.logger.Info("connection refused", "remote", remote.String(), "limit", limit)
		s.metrics.refused.WithLabelValues(limit).Inc()
		nc.Close()
		return
	}
	defer s.limits.releaseConn(addr)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &conn{
		id:     ulid.Make().String(),
		srv:    s,
		raw:    newActivityConn(nc),
		remote: remote,
	}
	c.logger = s.logger.With("session", c.id, "remote", remote.String())
	if !s.register(c) {
		nc.Close()
		return
	}
	defer s.unregister(c)
	defer c.wg.Wait()
	defer c.close()
	defer c.recoverPanic("connection")
	defer c.releaseAccount()

	c.deadline = time.Now().Add(s.cfg.HandshakeTimeout)
	_ = nc.SetDeadline(c.deadline)
	sc, chans, reqs, err := ssh.NewServerConn(c.raw, s.serverConfig(c, ctx))
	if err != nil {
		c.handshakeFailed(err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if !c.established(sc) {
		sc.Close()
		return
	}
	stopIdle := watchIdle(c.raw, s.cfg.IdleTimeout, func() {
		c.logger.Info("idle timeout", "idle", s.cfg.IdleTimeout)
		c.close()
	})
	defer stopIdle()
	if s.isDraining() {
		return // authenticated while a shutdown began
	}
	c.wg.Go(func() { ssh.DiscardRequests(reqs) })
	c.handleChannels(ctx, chans)
	c.logger.Info("session ended", "duration", time.Since(c.started).Round(time.Millisecond))
}

func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining {
		return false
	}
	s.conns[c.id] = c
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c.id)
}

// serverConfig returns the SSH configuration of connection c: the shared
// algorithms and host keys, with auth callbacks bound to c.
func (s *Server) serverConfig(c *conn, ctx context.Context) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: s.cfg.KexAlgorithms,
			Ciphers:      s.cfg.Ciphers,
			MACs:         s.cfg.MACs,
		},
		PublicKeyAuthAlgorithms: s.cfg.PublicKeyAlgorithms,
		MaxAuthTries:            s.cfg.MaxAuthTries,
		PasswordCallback: func(m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			return c.password(ctx, m, pw)
		},
		PublicKeyCallback: func(m ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			return c.publicKey(ctx, m, k)
		},
		VerifiedPublicKeyCallback: func(m ssh.ConnMetadata, k ssh.PublicKey, _ *ssh.Permissions, _ string) (*ssh.Permissions, error) {
			return c.verifiedKey(ctx, m, k)
		},
		AuthLogCallback: func(m ssh.ConnMetadata, method string, err error) { c.authLog(ctx, m, method, err) },
		ServerVersion:   serverVersion,
	}
	if s.cfg.Banner != "" {
		banner := s.cfg.Banner
		if !strings.HasSuffix(banner, "\n") {
			banner += "\n"
		}
		cfg.BannerCallback = func(ssh.ConnMetadata) string { return banner }
	}
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k)
	}
	return cfg
}

// addrPort returns the address of a TCP peer, IPv4-mapped addresses
// unmapped; the zero value for other kinds of address.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// conn is one client connection. Its auth fields are touched only by the
// handshake goroutine (the library calls the auth callbacks one at a time);
// the rest is guarded by mu.
type conn struct {
	id       string
	srv      *Server
	raw      *activityConn
	remote   netip.AddrPort
	logger   *slog.Logger
	deadline time.Time // of the handshake
	auth     authState
	wg       sync.WaitGroup // channel and request goroutines

	mu      sync.Mutex
	sc      *ssh.ServerConn
	sess    *Session
	streams map[*sftpStream]bool
	started time.Time
	closed  bool
}

// established records the session of a completed handshake. The identity
// is the one the auth callbacks put in the connection's Permissions; the
// account's details are those the Authenticator returned with it.
func (c *conn) established(sc *ssh.ServerConn) bool {
	l := c.auth.login
	var ext map[string]string
	if sc.Permissions != nil {
		ext = sc.Permissions.Extensions
	}
	if ext[extAccount] == "" || ext[extAccount] != l.Account.Name {
		c.logger.Error("authenticated connection without a matching identity")
		return false
	}
	sess := &Session{
		ID:             c.id,
		Account:        l.Account,
		Remote:         c.remote,
		ClientVersion:  clean(string(sc.ClientVersion()), 128),
		Method:         ext[extMethod],
		KeyFingerprint: ext[extFingerprint],
		Started:        time.Now(),
	}
	c.mu.Lock()
	c.sc, c.sess, c.started = sc, sess, sess.Started
	closed := c.closed
	c.mu.Unlock()
	if closed {
		sc.Close()
	}
	c.logger = c.logger.With("account", l.Account.Name)
	c.logger.Info("session started", "method", sess.Method, "client", sess.ClientVersion)
	return !closed
}

// session returns a copy of c's session, if c is authenticated.
func (c *conn) session() (Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return Session{}, false
	}
	return *c.sess, true
}

// busy reports whether c has an SFTP transfer or request in flight.
func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.streams {
		if s.busy() {
			return true
		}
	}
	return false
}

func (c *conn) addStream(s *sftpStream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams == nil {
		c.streams = map[*sftpStream]bool{}
	}
	c.streams[s] = true
}

func (c *conn) removeStream(s *sftpStream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.streams, s)
}

// close ends the connection; safe to call from any goroutine, repeatedly.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	sc := c.sc
	c.mu.Unlock()
	if sc != nil {
		sc.Close()
	}
	c.raw.Close()
}
