package broker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics registers the connection's collectors on reg, read from
// the connection at each scrape: sluice_nats_connected (1 while connected
// to a server, 0 while reconnecting or closed) and
// sluice_nats_reconnects_total. Call it once after Start; it does not block
// and is safe for concurrent use.
func (b *Broker) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_nats_connected",
			Help: "1 while the NATS connection is up, 0 while it is reconnecting or closed.",
		}, func() float64 {
			if b.nc != nil && b.nc.IsConnected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_nats_reconnects_total",
			Help: "Times the NATS connection was re-established after a disconnect.",
		}, func() float64 {
			if b.nc == nil {
				return 0
			}
			return float64(b.nc.Stats().Reconnects)
		}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register nats metrics: %w", err)
		}
	}
	return nil
}
