package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store"
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
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.stageDuration, m.files, m.bytes, m.pending, m.redeliveries, m.failed,
		m.uploadToReady} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
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

// FeedLister lists every feed; credentials.Service implements it.
type FeedLister interface {
	AllFeeds(ctx context.Context) ([]credentials.Feed, error)
}

// FeedCollector exports the health of every feed from the store, so that
// every node reports the same values and a restart forgets nothing:
// sluice_feed_last_success_timestamp_seconds (when an upload of the feed
// last ended ready; dry runs excluded) and
// sluice_feed_expected_interval_seconds (the feed's expected_every, for
// feeds that set it). Together they drive the "feed silent" alert, the
// signal of a customer who stopped sending. Both carry account and feed
// labels: accounts and feeds are made by administrators, so their number is
// bounded. It reads the store at most every 15 s and is safe for
// concurrent use.
type FeedCollector struct {
	db    *store.DB
	feeds FeedLister
	log   *slog.Logger

	last, every *prometheus.Desc

	mu      sync.Mutex
	readAt  time.Time
	metrics []prometheus.Metric
}

// NewFeedCollector returns a FeedCollector over db's uploads and feeds'
// settings; register it on the metrics registry.
func NewFeedCollector(db *store.DB, feeds FeedLister, logger *slog.Logger) *FeedCollector {
	return &FeedCollector{
		db: db, feeds: feeds, log: logger.With("component", "feed-metrics"),
		last: prometheus.NewDesc("sluice_feed_last_success_timestamp_seconds",
			"When an upload of the feed last ended ready (unix seconds); dry runs excluded.", []string{"account", "feed"}, nil),
		every: prometheus.NewDesc("sluice_feed_expected_interval_seconds",
			"The feed's expected_every: how often it should receive a file.", []string{"account", "feed"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *FeedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.last
	ch <- c.every
}

// Collect implements prometheus.Collector. A failed read keeps the last
// values and is logged.
func (c *FeedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.readAt) > 15*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ms, err := c.read(ctx)
		cancel()
		if err != nil {
			c.log.Warn("feed metrics not read", "err", err)
		} else {
			c.metrics, c.readAt = ms, time.Now()
		}
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *FeedCollector) read(ctx context.Context) ([]prometheus.Metric, error) {
	var out []prometheus.Metric
	rows, err := c.db.QueryContext(ctx, `SELECT account, feed, max(finished_at) FROM uploads
		WHERE status = 'ready' AND feed <> '' AND path NOT LIKE '`+DryRunFolder+`/%' GROUP BY account, feed`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var account, feed string
		var at int64
		if err := rows.Scan(&account, &feed, &at); err != nil {
			return nil, err
		}
		out = append(out, prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(at)/1e6, account, feed))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	feeds, err := c.feeds.AllFeeds(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range feeds {
		if f.ExpectedEvery > 0 {
			out = append(out, prometheus.MustNewConstMetric(c.every, prometheus.GaugeValue, f.ExpectedEvery.Seconds(), f.Account, f.Name))
		}
	}
	return out, nil
}
