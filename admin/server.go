package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
)

// Server is the admin HTTP API. It is safe for concurrent use; Serve may be
// called once.
type Server struct {
	cfg      Config
	svc      Service
	uploads  Uploads  // nil: the upload routes answer 503
	defender Defender // nil: the defender routes answer 503
	sessions Sessions // nil: the session routes answer 503
	// metricsHandler serves /metrics; nil: /metrics answers 404.
	metricsHandler http.Handler
	metrics        *metrics
	logger         *slog.Logger
	echo           *echo.Echo
	openapi        []byte // the OpenAPI document as JSON
}

// Deps are the components the admin API answers with. Service is required.
// The others are optional: a server without one still serves (and documents)
// its routes, which answer 503 with a problem naming the missing component,
// so that a process that runs no SFTP server or intake says so instead of
// pretending the routes do not exist.
type Deps struct {
	// Service manages accounts, credentials, feeds and the audit trail, and
	// authenticates admin requests.
	Service Service
	// Uploads backs /api/v1/uploads.
	Uploads Uploads
	// Defender backs /api/v1/defender/bans and /api/v1/defender/lockouts.
	Defender Defender
	// Sessions backs /api/v1/sessions.
	Sessions Sessions
	// Metrics serves GET /metrics, unauthenticated, typically
	// promhttp.HandlerFor(registry, …). Nil when the process serves its
	// metrics on a listener of its own (or not at all): /metrics then
	// answers 404.
	Metrics http.Handler
}

// New validates cfg and returns a Server answering with deps. A nil logger
// discards logs.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Service == nil {
		return nil, errors.New("admin: nil Service")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	doc, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		svc:      deps.Service,
		uploads:  deps.Uploads,
		defender: deps.Defender,
		sessions: deps.Sessions,
		logger:   logger.With("component", "admin"),
		openapi:  doc,

		metricsHandler: deps.Metrics,
		metrics:        newMetrics(),
	}
	e := echo.NewWithConfig(echo.Config{
		Logger:           s.logger,
		HTTPErrorHandler: s.handleError,
		IPExtractor:      echo.ExtractIPDirect(),
		Router:           echo.NewRouter(echo.RouterConfig{}),
	})
	mws, err := s.middlewares()
	if err != nil {
		return nil, err
	}
	e.Pre(dropBadRequestID)
	e.Use(mws...)
	if err := s.addRoutes(e); err != nil {
		return nil, err
	}
	s.echo = e
	return s, nil
}

// middlewares returns the global middleware chain, outermost first: request
// id, the request log (which also answers errors), panic recovery and the
// body limit.
func (s *Server) middlewares() ([]echo.MiddlewareFunc, error) {
	var mws []echo.MiddlewareFunc
	for _, cfg := range []echo.MiddlewareConfigurator{
		middleware.RequestIDConfig{
			RequestIDHandler: func(c *echo.Context, id string) { c.Set(requestIDKey, id) },
		},
	} {
		mw, err := cfg.ToMiddleware()
		if err != nil {
			return nil, fmt.Errorf("admin middleware: %w", err)
		}
		mws = append(mws, mw)
	}
	mws = append(mws, s.logRequests)
	for _, cfg := range []echo.MiddlewareConfigurator{
		middleware.RecoverConfig{DisableStackAll: true},
		middleware.BodyLimitConfig{LimitBytes: s.cfg.BodyLimit},
	} {
		mw, err := cfg.ToMiddleware()
		if err != nil {
			return nil, fmt.Errorf("admin middleware: %w", err)
		}
		mws = append(mws, mw)
	}
	return mws, nil
}

// validRequestID is what we accept as a client-supplied X-Request-Id; any
// other value is replaced by a generated one, so logs and audit events never
// carry arbitrary client text.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// dropBadRequestID removes an X-Request-Id header that is not a plain token.
func dropBadRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !validRequestID.MatchString(id) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

// logRequests logs one line per request, with its request id, counts it in
// the metrics and answers the request's error, so that both carry the final
// status. It never logs headers or bodies.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			s.handleError(c, err)
		}
		_, status := echo.ResolveResponseStatus(c.Response(), nil)
		took := time.Since(start)
		s.metrics.observe(c, status, took)
		s.logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "admin request",
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.Int("status", status),
			slog.Duration("duration", took),
			slog.String("request_id", requestID(c)),
			slog.String("actor", actor(c)),
			slog.String("remote", c.RealIP()),
		)
		return nil
	}
}

// Handler returns the server's HTTP handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers requests on ln until ctx is cancelled, then stops accepting,
// waits up to ShutdownTimeout for in-flight requests and returns nil. It
// returns an error if ln fails or the shutdown does not finish in time. Serve
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	var (
		wg       sync.WaitGroup
		serveErr error
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		serveErr = srv.Serve(ln)
	}()

	select {
	case <-done:
		wg.Wait()
		return fmt.Errorf("serve admin api on %s: %w", ln.Addr(), serveErr)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		_ = srv.Close()
	}
	wg.Wait()
	if shutdownErr != nil {
		return fmt.Errorf("shut down admin api: %w", shutdownErr)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve admin api on %s: %w", ln.Addr(), serveErr)
	}
	return nil
}
