package sshserver

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Upload results: the result label of sluice_sftp_uploads_total and the
// result of an upload's "upload ended" log line.
const (
	resultOK      = "ok"      // received and handed to the UploadSink
	resultAborted = "aborted" // cut off by a disconnect; kept for resume
	resultQuota   = "quota"   // over the account's quota or maximum file size
	resultRefused = "refused" // refused by the feed's rules (encryption required)
	resultError   = "error"   // the server could not finish it (disk, store)
)

var uploadResults = []string{resultOK, resultAborted, resultQuota, resultRefused, resultError}

// uploadDurationBuckets span a small file on a LAN to a large one over a
// slow link: 10 ms to 2 h.
var uploadDurationBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200}

// fsMetrics are the collectors of an FS. The byte counters are added to on
// every read and write request: Counter.Add of a whole number is one atomic
// add, with no lock.
type fsMetrics struct {
	received prometheus.Counter
	sent     prometheus.Counter
	uploads  map[string]prometheus.Counter // by result, resolved once
	vec      *prometheus.CounterVec
	duration prometheus.Histogram
}

func newFSMetrics() *fsMetrics {
	m := &fsMetrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_sftp_bytes_received_total",
			Help: "File bytes written by SFTP clients (uploads, resumed ones included).",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_sftp_bytes_sent_total",
			Help: "File bytes read by SFTP clients (downloads, such as reports).",
		}),
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sftp_uploads_total",
			Help: "SFTP uploads by outcome: ok (received), aborted (cut off, kept for resume), quota, refused (feed rules), error (server side).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_sftp_upload_duration_seconds",
			Help:    "Time from opening a file for writing to its successful close (or to the rename that finishes it), for received uploads.",
			Buckets: uploadDurationBuckets,
		}),
		uploads: make(map[string]prometheus.Counter, len(uploadResults)),
	}
	for _, r := range uploadResults {
		m.uploads[r] = m.vec.WithLabelValues(r)
	}
	return m
}

// RegisterMetrics registers the file system's collectors on reg:
// sluice_sftp_bytes_received_total, sluice_sftp_bytes_sent_total,
// sluice_sftp_uploads_total{result} and sluice_sftp_upload_duration_seconds.
// The FS counts whether or not they are registered. Call it once, before or
// while the FS serves; it does not block.
func (f *FS) RegisterMetrics(reg prometheus.Registerer) error {
	return register(reg, f.metrics.received, f.metrics.sent, f.metrics.vec, f.metrics.duration)
}

// Login results beyond the refusal reasons (see conn.policy and conn.deny):
// the result label of sluice_sftp_logins_total is "ok", "partial" (the key
// of a key-and-password login) or the reason a login was refused, such as
// "bad-credentials", "unknown-key", "banned" or "source-address".
const loginPartial = "partial"

// serverMetrics are the collectors of a Server.
type serverMetrics struct {
	logins  *prometheus.CounterVec
	refused *prometheus.CounterVec
	active  prometheus.GaugeFunc
}

func newServerMetrics(l *limiter) *serverMetrics {
	m := &serverMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sftp_logins_total",
			Help: "SFTP authentication attempts by method (password, publickey, publickey,password) and result (ok, partial, or why it was refused).",
		}, []string{"method", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sftp_connections_refused_total",
			Help: "Connections closed before the SSH handshake, by reason: banned, max_connections, max_connections_per_host.",
		}, []string{"reason"}),
		active: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_sftp_connections_active",
			Help: "Open SSH connections, authenticated or not.",
		}, func() float64 { return float64(l.connections()) }),
	}
	for _, method := range []string{"password", "publickey"} {
		for _, result := range []string{"ok", "bad-credentials", "unknown-key"} {
			if method == "password" && result == "unknown-key" || method == "publickey" && result == "bad-credentials" {
				continue
			}
			m.logins.WithLabelValues(method, result)
		}
	}
	for _, reason := range []string{"banned", "max_connections", "max_connections_per_host"} {
		m.refused.WithLabelValues(reason)
	}
	return m
}

// RegisterMetrics registers the server's collectors on reg:
// sluice_sftp_connections_active, sluice_sftp_connections_refused_total{reason}
// and sluice_sftp_logins_total{method,result}. The server counts whether or
// not they are registered. Call it once, before or while the server serves;
// it does not block.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	return register(reg, s.metrics.active, s.metrics.refused, s.metrics.logins)
}

// loginResult turns the result of an audited login attempt ("ok",
// "partial:publickey", "denied:<reason>") into the result label.
func loginResult(result string) string {
	if result == "ok" {
		return result
	}
	if _, ok := strings.CutPrefix(result, "partial:"); ok {
		return loginPartial
	}
	if reason, ok := strings.CutPrefix(result, "denied:"); ok {
		return reason
	}
	return "other"
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register sftp metrics: %w", err)
		}
	}
	return nil
}
