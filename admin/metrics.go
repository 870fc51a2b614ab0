package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// unmatchedRoute is the route label of requests that matched no route, so
// that a scan of random paths cannot create series.
const unmatchedRoute = "unmatched"

// metrics are the admin API's collectors. Their labels are the route
// template (never the raw path) and the status code, both bounded.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_admin_requests_total",
			Help: "Admin API requests by route template and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_admin_request_duration_seconds",
			Help:    "Admin API request latency by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
}

// observe counts one request of c that took d and answered status.
func (m *metrics) observe(c *echo.Context, status int, d time.Duration) {
	route := c.Path()
	if route == "" || c.RouteInfo().Name == echo.NotFoundRouteName {
		route = unmatchedRoute
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// RegisterMetrics registers the admin API's collectors on reg:
// sluice_admin_requests_total{route,code} and
// sluice_admin_request_duration_seconds{route}. The server counts whether or
// not they are registered. Call it once, before or while the server serves;
// it does not block.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.metrics.requests, s.metrics.duration} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register admin metrics: %w", err)
		}
	}
	return nil
}

// metricsPage answers GET /metrics with Deps.Metrics, the Prometheus
// exposition, without authentication (as /healthz): keep the admin listener
// on a private interface. Without Deps.Metrics it answers 404: the process
// serves its metrics elsewhere, or not at all.
func (s *Server) metricsPage(c *echo.Context) error {
	if s.metricsHandler == nil {
		return httpError(http.StatusNotFound, "metrics are not served on this listener")
	}
	s.metricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}
