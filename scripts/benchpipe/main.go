// Command benchpipe drives one of Sluice's pipeline stages on a real file
// for scripts/bench-pipeline, outside the server: the real stage
// (pipeline/decrypt, pipeline/unzip or pipeline/csvcheck) over a blob.Dir
// in a temporary folder, with hand-written fakes of the stage's small
// interfaces. It runs Process once and prints one JSON line: bytes in and
// out, wall and CPU seconds, MB/s and the process's peak RSS (VmHWM). It also writes the
// benchmark's CSV (-gen).
//
//	benchpipe -gen -size-mib 1024 -out bench.csv
//	benchpipe -print-feed > feed.json
//	benchpipe -stage csv -in bench.csv -feed feed.json
//	benchpipe -stage zip -in bench.zip -zip-password-file pw
//	benchpipe -stage pgp -in bench.zip.pgp -key key.asc
//
// Run it with GOMAXPROCS=1 for a one-core figure. It is a benchmark tool,
// not part of the product: cmd/sluice is the only composition root of the
// server.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchpipe:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	stage, in, out, work     string
	feed, key, passFile, zpw string
	gen, printFeed           bool
	sizeMiB                  int64
	memLimitMiB              int64
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchpipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.stage, "stage", "", "stage to run: pgp, zip or csv")
	fs.StringVar(&o.in, "in", "", "input file of the stage")
	fs.StringVar(&o.work, "work", "", "folder for the temporary blob store (default: next to -in, so that -in can be hard-linked)")
	fs.StringVar(&o.feed, "feed", "", "csv: the feed as JSON, the body of PUT /api/v1/accounts/{a}/feeds/{f} (default: the benchmark's schema)")
	fs.StringVar(&o.key, "key", "", "pgp: armored OpenPGP private key file")
	fs.StringVar(&o.passFile, "passphrase-file", "", "pgp: file holding the key's passphrase, if it has one")
	fs.StringVar(&o.zpw, "zip-password-file", "", "zip: file holding the archive's password")
	fs.Int64Var(&o.memLimitMiB, "memory-limit-mib", 64, "Go's soft memory limit, as sluice serve's memory_limit_mib (0: off)")
	fs.BoolVar(&o.gen, "gen", false, "write the benchmark CSV to -out instead of running a stage")
	fs.Int64Var(&o.sizeMiB, "size-mib", 1024, "gen: size of the CSV in MiB")
	fs.StringVar(&o.out, "out", "", "gen: output file")
	fs.BoolVar(&o.printFeed, "print-feed", false, "print the benchmark's feed as the body of a feed PUT and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.gen && (o.out == "" || o.sizeMiB < 1):
		return o, errors.New("-gen needs -out and a positive -size-mib")
	case o.gen, o.printFeed:
	case o.in == "":
		return o, errors.New("-in is required")
	case o.stage == "pgp" && o.key == "":
		return o, errors.New("-stage pgp needs -key")
	case o.stage == "zip" && o.zpw == "":
		return o, errors.New("-stage zip needs -zip-password-file")
	case o.stage != "pgp" && o.stage != "zip" && o.stage != "csv":
		return o, fmt.Errorf("-stage must be pgp, zip or csv (got %q)", o.stage)
	}
	return o, nil
}

// Figures is what a stage run prints, as one JSON line.
type Figures struct {
	Stage      string  `json:"stage"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	InBytes    int64   `json:"in_bytes"`
	OutBytes   int64   `json:"out_bytes"` // all outputs together
	Outputs    int     `json:"outputs"`
	Rows       int64   `json:"rows,omitempty"` // csv: data rows accepted
	Seconds    float64 `json:"seconds"`
	// CPUSeconds is the user and system time the process spent in Process,
	// all goroutines together: a figure less disturbed than Seconds by
	// other work on a shared machine.
	CPUSeconds float64 `json:"cpu_seconds"`
	InMBps     float64 `json:"in_mb_s"`  // 10^6 bytes of input per second
	OutMBps    float64 `json:"out_mb_s"` // 10^6 bytes of output per second
	PeakRSSKiB int64   `json:"peak_rss_kib"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args, os.Stderr)
	if err != nil {
		return err
	}
	switch {
	case o.printFeed:
		return writeFeed(stdout)
	case o.gen:
		return genFile(o.out, o.sizeMiB<<20)
	}
	if o.memLimitMiB > 0 {
		debug.SetMemoryLimit(o.memLimitMiB << 20)
	}
	f, err := runStage(ctx, o)
	if err != nil {
		return err
	}
	f.GOMAXPROCS = runtime.GOMAXPROCS(0)
	f.PeakRSSKiB = peakRSSKiB()
	return json.NewEncoder(stdout).Encode(f)
}

// peakRSSKiB is the process's peak resident set (VmHWM) in KiB, 0 when
// unknown.
func peakRSSKiB() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kib
		}
	}
	return 0
}
