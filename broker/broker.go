package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Broker is a NATS connection with its JetStream context and, in embedded
// mode, the server it talks to. It is safe for concurrent use.
type Broker struct {
	cfg    Config
	logger *slog.Logger
	srv    *server.Server // nil with an external server
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{} // closed by the connection's ClosedHandler

	mu          sync.Mutex
	onReconnect []func()

	closeOnce sync.Once
}

// Start validates cfg, starts the embedded server when cfg.URL is empty and
// connects to it (or to the external server). It blocks until the embedded
// server is ready, at most cfg.StartTimeout or until ctx ends. An external
// server that cannot be reached yet is no error: the connection keeps
// retrying in the background, logging, and publishing fails fast meanwhile.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, logger: logger.With("component", "nats"), closed: make(chan struct{})}
	token, err := readToken(cfg.TokenFile)
	if err != nil {
		return nil, err
	}
	opts := b.connOptions(token)
	url := nats.DefaultURL // unused in-process, but nats.Connect wants a server in its pool
	if cfg.Embedded() {
		if err := b.startServer(ctx, token); err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(b.srv))
	} else {
		url = strings.Join(serverURLs(cfg.URL), ",")
		opts = append(opts, nats.RetryOnFailedConnect(true))
		if cfg.CredentialsFile != "" {
			opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
		}
		if cfg.CAFile != "" {
			opts = append(opts, nats.RootCAs(cfg.CAFile))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	b.nc = nc
	if !nc.IsConnected() {
		b.logger.Warn("nats not reachable yet; retrying in the background", "url", cfg.URL)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	b.js = js
	return b, nil
}

// connOptions returns the client options common to both modes.
func (b *Broker) connOptions(token string) []nats.Option {
	opts := []nats.Option{
		nats.Name("sluice"),
		nats.Timeout(b.cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(b.cfg.ReconnectWait),
		// No buffering while disconnected: a publish fails at once and the
		// caller's outbox publishes it again later.
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(b.cfg.DrainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.logger.Warn("nats disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.logger.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
			b.mu.Lock()
			fns := append([]func(){}, b.onReconnect...)
			b.mu.Unlock()
			for _, fn := range fns {
				fn()
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			if b.srv == nil { // the embedded server's start is logged already
				b.logger.Info("nats connected", "server", nc.ConnectedUrlRedacted())
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"err", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			b.logger.Warn("nats async error", attrs...)
		}),
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	return opts
}

// startServer starts the embedded server and waits until it accepts clients.
func (b *Broker) startServer(ctx context.Context, token string) error {
	if err := os.MkdirAll(b.cfg.StoreDir, 0o750); err != nil {
		return fmt.Errorf("create nats store dir %q: %w", b.cfg.StoreDir, err)
	}
	opts := &server.Options{
		ServerName: "sluice",
		JetStream:  true,
		StoreDir:   b.cfg.StoreDir,
		SyncAlways: b.cfg.SyncAlways,
		NoSigs:     true, // signals belong to cmd
		DontListen: b.cfg.Listen == "",
		// Authorization applies to in-process clients too.
		Authorization: token,
	}
	if b.cfg.Listen != "" {
		host, port, err := listenHostPort(b.cfg.Listen)
		if err != nil {
			return fmt.Errorf("nats.listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("create embedded nats server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{b.logger}, false, false, false)
	b.srv = srv
	srv.Start()

	deadline := time.Now().Add(b.cfg.StartTimeout)
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			b.shutdownServer()
			if ctx.Err() != nil {
				return fmt.Errorf("start embedded nats server: %w", ctx.Err())
			}
			return fmt.Errorf("start embedded nats server: not ready after %s", b.cfg.StartTimeout)
		}
	}
	attrs := []any{"store_dir", b.cfg.StoreDir, "version", server.VERSION}
	if a := srv.Addr(); a != nil {
		attrs = append(attrs, "listen", a.String())
	}
	b.logger.Info("embedded nats server started", attrs...)
	return nil
}

// readToken reads the token in path; "" for no path.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nats.token_file: read %q: %w", path, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("nats.token_file: %q is empty", path)
	}
	return t, nil
}

// Conn returns the NATS connection. It stays valid until Close.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context of the connection.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Embedded reports whether b runs the embedded server.
func (b *Broker) Embedded() bool { return b.srv != nil }

// Addr returns the TCP address the embedded server listens on, or nil when it
// is in-process only or the server is external.
func (b *Broker) Addr() net.Addr {
	if b.srv == nil {
		return nil
	}
	return b.srv.Addr()
}

// ClientURL returns a nats:// URL for the embedded server's TCP listener, or
// "" when there is none.
func (b *Broker) ClientURL() string {
	a, ok := b.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	return "nats://" + a.String()
}

// OnReconnect registers fn to run after every reconnect of the connection,
// in the connection's callback goroutine: it must not block. Safe for
// concurrent use.
func (b *Broker) OnReconnect(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onReconnect = append(b.onReconnect, fn)
}

// Close drains the connection, waiting at most the configured drain timeout,
// then shuts the embedded server down. It is idempotent and blocks until both
// are done.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		if b.nc != nil {
			if err := b.nc.Drain(); err != nil {
				b.nc.Close()
			}
			select {
			case <-b.closed:
			case <-time.After(b.cfg.DrainTimeout + time.Second):
				b.logger.Warn("nats drain timed out; closing", "timeout", b.cfg.DrainTimeout)
				b.nc.Close()
			}
		}
		b.shutdownServer()
	})
}

func (b *Broker) shutdownServer() {
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.logger.Info("embedded nats server stopped")
}
