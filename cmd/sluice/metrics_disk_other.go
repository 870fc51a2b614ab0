//go:build !linux

package main

import "github.com/prometheus/client_golang/prometheus"

// diskCollectors reports nothing outside Linux: the low-disk alert then
// needs node_exporter's node_filesystem_avail_bytes.
func diskCollectors(string) []prometheus.Collector { return nil }
