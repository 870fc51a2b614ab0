// Package promtest reads Prometheus metrics in tests: it scrapes an HTTP
// endpoint, as Prometheus would, or gathers a registry, and looks samples up
// by name and labels. It is imported only by tests.
package promtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Metrics are metric families by name. A Metrics is read-only and safe for
// concurrent use.
type Metrics map[string]*dto.MetricFamily

// Scrape fetches url (a /metrics endpoint) in the Prometheus text format and
// parses it, failing the test on any error or a status other than 200. It
// blocks for the request, at most 10 seconds.
func Scrape(t testing.TB, url string) Metrics {
	t.Helper()
	m, err := Parse(ScrapeText(t, url))
	require.NoError(t, err, "GET %s", url)
	return m
}

// ScrapeText fetches url in the Prometheus text format and returns the
// body, failing the test on any error or a status other than 200.
func ScrapeText(t testing.TB, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	return string(body)
}

// Parse parses the Prometheus text exposition format.
func Parse(text string) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	return Metrics(mfs), nil
}

// Gather collects the metrics of g, failing the test on an error.
func Gather(t testing.TB, g prometheus.Gatherer) Metrics {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	m := make(Metrics, len(mfs))
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m
}

// Has reports whether the family name is present.
func (m Metrics) Has(name string) bool {
	_, ok := m[name]
	return ok
}

// Value sums the samples of the family name whose labels include labels
// (name, value pairs): counter and gauge values, histogram and summary
// sample counts. Absent series count 0.
func (m Metrics) Value(name string, labels ...string) float64 {
	mf, ok := m[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, s := range mf.GetMetric() {
		if !matches(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Untyped != nil:
			sum += s.GetUntyped().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		case s.Summary != nil:
			sum += float64(s.GetSummary().GetSampleCount())
		}
	}
	return sum
}

// LabelValues returns every value of every label, sorted and de-duplicated,
// for checks that no unbounded value (a user name, a path) became a label.
func (m Metrics) LabelValues() []string {
	seen := map[string]bool{}
	for _, mf := range m {
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				seen[lp.GetValue()] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Names returns the family names, sorted.
func (m Metrics) Names() []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func matches(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range s.GetLabel() {
			if lp.GetName() == labels[i] {
				found = lp.GetValue() == labels[i+1]
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
