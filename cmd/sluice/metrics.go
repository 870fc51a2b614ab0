package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsConfig says where Prometheus scrapes the process.
type MetricsConfig struct {
	// Listen serves /metrics on a listener of its own (host:port), for
	// when the admin API must not be reachable from the Prometheus server.
	// Empty serves /metrics on the admin listener.
	Listen string `yaml:"listen" koanf:"listen"`
	// FeedLabels exports the per-feed gauges labelled by account and feed
	// (sluice_feed_last_success_timestamp_seconds,
	// sluice_feed_expected_interval_seconds) that the "feed silent" alert
	// needs. Turn it off where account names must not reach Prometheus.
	FeedLabels bool `yaml:"feed_labels" koanf:"feed_labels"`
}

// Validate reports an invalid metrics.listen.
func (c MetricsConfig) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("metrics.listen: %q is not host:port", c.Listen)
	}
	return nil
}

// metricsComponent is a component whose collectors go on the registry.
type metricsComponent interface {
	RegisterMetrics(prometheus.Registerer) error
}

// newRegistry returns the registry of a `sluice serve` process with the
// collectors that belong to no component: the Go runtime, the process, the
// build, and the free space of the data directory. Each component then
// registers its own (see registerMetrics).
func newRegistry(cfg Config) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sluice_build_info",
		Help:        "Always 1; its labels name the running build.",
		ConstLabels: prometheus.Labels{"version": buildVersion(), "goversion": runtime.Version()},
	})
	build.Set(1)
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	}
	cs = append(cs, diskCollectors(cfg.DataDir)...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, nil
}

// registerMetrics registers the collectors of every component on reg.
func registerMetrics(reg prometheus.Registerer, cs ...metricsComponent) error {
	for _, c := range cs {
		if err := c.RegisterMetrics(reg); err != nil {
			return err
		}
	}
	return nil
}

// metricsHandler serves reg's metrics. A scrape that takes longer than
// the timeout answers 503 rather than piling up.
func metricsHandler(reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelWarn),
		Registry:            reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// metricsShutdownTimeout bounds the drain of the metrics listener.
const metricsShutdownTimeout = 5 * time.Second

// serveMetrics answers GET /metrics on ln (metrics.listen) until ctx is
// cancelled; every other path is a 404. It closes ln.
func serveMetrics(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("metrics listening", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), serr)
	}
	if err != nil {
		return fmt.Errorf("shut down metrics listener: %w", err)
	}
	return nil
}
