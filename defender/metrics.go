package defender

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Ban reasons: the reason label of sluice_defender_bans_total.
const (
	banFailures = "failures" // too many failed logins in the window
	banHoneypot = "honeypot" // a honeypot user name
)

// metrics are the defender's collectors.
type metrics struct {
	bans     *prometheus.CounterVec
	lockouts prometheus.Counter
	banned   prometheus.GaugeFunc
}

func newMetrics(d *Defender) *metrics {
	m := &metrics{
		bans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_defender_bans_total",
			Help: "Addresses banned, by reason: failures (too many failed logins) or honeypot (a honeypot user name).",
		}, []string{"reason"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_defender_lockouts_total",
			Help: "Accounts locked after too many failed logins from any number of addresses.",
		}),
		banned: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_defender_banned_hosts",
			Help: "Addresses (IPv6: prefixes) banned now.",
		}, func() float64 { return float64(d.bannedHosts()) }),
	}
	m.bans.WithLabelValues(banFailures)
	m.bans.WithLabelValues(banHoneypot)
	return m
}

// RegisterMetrics registers the defender's collectors on reg:
// sluice_defender_bans_total{reason}, sluice_defender_lockouts_total and
// sluice_defender_banned_hosts (counted at each scrape, under the read
// lock). The defender counts whether or not they are registered. A nil
// Defender registers nothing. Safe for concurrent use; it does not block.
func (d *Defender) RegisterMetrics(reg prometheus.Registerer) error {
	if d == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{d.metrics.bans, d.metrics.lockouts, d.metrics.banned} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register defender metrics: %w", err)
		}
	}
	return nil
}

// bannedHosts counts the addresses banned now.
func (d *Defender) bannedHosts() int {
	if !d.active() {
		return 0
	}
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for _, e := range d.hosts {
		if e.Value.(*host).until.After(now) {
			n++
		}
	}
	return n
}
