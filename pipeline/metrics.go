package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runner's collectors (STYLE.md rule 18).
type metrics struct {
	stageDuration *prometheus.HistogramVec
	files         *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	pending       *prometheus.GaugeVec
	redeliveries  prometheus.Counter
	failed        prometheus.Counter
	uploadToReady prometheus.Histogram
	feedLast      *prometheus.GaugeVec

	mu       sync.Mutex
	feedSeen map[[2]string]time.Time
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_pipeline_stage_duration_seconds",
			Help:    "Time one try of a stage took on one file.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms .. ~22 min
		}, []string{"stage"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_pipeline_files_total",
			Help: "Files a stage took, by outcome: ok, rejected (bad input), retried (internal fault, tried again), failed (out of tries).",
		}, []string{"stage", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_pipeline_bytes_total",
			Help: "Bytes of input a stage processed successfully.",
		}, []string{"stage"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_pipeline_pending",
			Help: "Tasks waiting for or held by a stage's workers, from its JetStream consumer.",
		}, []string{"stage"}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_pipeline_redeliveries_total",
			Help: "Tasks taken again after a retry, a crash or a timeout.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_pipeline_failed_total",
			Help: "Files that failed: an internal fault outlived every retry. Alert on any increase.",
		}),
		uploadToReady: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_upload_to_ready_seconds",
			Help:    "Time from an upload's close to its ready outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 12), // 10 ms .. ~30 min
		}),
		feedLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_feed_last_success_timestamp_seconds",
			Help: "When a feed last had an upload end ready (unix seconds); a feed gone quiet is a customer who stopped sending.",
		}, []string{"account", "feed"}),
		feedSeen: map[[2]string]time.Time{},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.stageDuration, m.files, m.bytes, m.pending, m.redeliveries, m.failed,
		m.uploadToReady, m.feedLast} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// feedSuccess moves a feed's last-success time forward (never back: a late
// retry of an old upload must not hide a silent feed).
func (m *metrics) feedSuccess(account, feed string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{account, feed}
	if at.After(m.feedSeen[k]) {
		m.feedSeen[k] = at
		m.feedLast.WithLabelValues(account, feed).Set(float64(at.UnixNano()) / 1e9)
	}
}

// watchPending reads the consumers' backlogs into sluice_pipeline_pending
// every 15 s until ctx ends.
func (r *Runner) watchPending(ctx context.Context, consumers map[string]jetstream.Consumer) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		for name, c := range consumers {
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			info, err := c.Info(ictx)
			cancel()
			if err == nil {
				r.metrics.pending.WithLabelValues(name).Set(float64(info.NumPending + uint64(info.NumAckPending)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
