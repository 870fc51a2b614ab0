//go:build linux

package main

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// diskCollectors report the size and the free space of the file system
// holding the data directory, read at each scrape (one statfs call). The
// free space is what an unprivileged process may use (f_bavail).
func diskCollectors(dir string) []prometheus.Collector {
	stat := func(f func(st *syscall.Statfs_t) uint64) func() float64 {
		return func() float64 {
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				return -1 // visible and alertable; the directory is created at start
			}
			unit := st.Frsize // the unit of the block counts; 0 on old kernels
			if unit == 0 {
				unit = st.Bsize
			}
			return float64(f(&st)) * float64(unit)
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_data_dir_free_bytes",
			Help: "Bytes available to Sluice on the file system of data_dir (-1: statfs failed).",
		}, stat(func(st *syscall.Statfs_t) uint64 { return st.Bavail })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_data_dir_size_bytes",
			Help: "Size of the file system of data_dir in bytes (-1: statfs failed).",
		}, stat(func(st *syscall.Statfs_t) uint64 { return st.Blocks })),
	}
}
