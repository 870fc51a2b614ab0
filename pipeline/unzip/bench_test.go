package unzip

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchCSV writes a CSV of about size bytes: ten columns of DESIGN.md's
// kind, random enough to deflate about 3:1 as real exports do.
func benchCSV(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{"Ada", "Grace", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Dennis"}
	statuses := []string{"paid", "open", "refunded", "cancelled"}
	countries := []string{"FR", "DE", "NL", "US", "GB", "ES", "IT", "SE"}
	fmt.Fprintln(w, "order_id,date,customer,email,amount,currency,country,status,sku,quantity")
	var n int64
	for i := 0; n < size; i++ {
		name := names[rng.IntN(len(names))]
		m, _ := fmt.Fprintf(w, "%d,2026-%02d-%02d,%s %c.,%s.%d@example.com,%d.%02d,EUR,%s,%s,SKU-%05d,%d\n",
			100000+i, 1+rng.IntN(12), 1+rng.IntN(28), name, 'A'+rune(rng.IntN(26)), name, rng.IntN(10000),
			rng.IntN(5000), rng.IntN(100), countries[rng.IntN(len(countries))], statuses[rng.IntN(len(statuses))],
			rng.IntN(100000), 1+rng.IntN(20))
		n += int64(m)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProcessAES256 extracts a ~256 MiB CSV zipped with AES-256 by 7z
// and reports, next to the stage's MB/s, `7z x -so` on the same archive in
// the same run (best runs of each, taken in turns), the ratio of the two,
// the bytes allocated per MiB and the peak heap. The stage's time includes
// fsyncing its output; 7z writes to a pipe.
func BenchmarkProcessAES256(b *testing.B) {
	need(b, "7z", "p7zip-full")
	src := b.TempDir()
	csv := filepath.Join(src, "orders.csv")
	benchCSV(b, csv, 256<<20)
	archive := filepath.Join(b.TempDir(), "orders.zip")
	cmd := exec.Command("7z", "a", "-tzip", "-bd", "-bso0", "-mem=AES256", "-pbench", archive, "orders.csv")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("7z a: %v: %s", err, out)
	}
	st, err := os.Stat(csv)
	if err != nil {
		b.Fatal(err)
	}
	size := st.Size()

	e := newEnv(b, DefaultConfig(), []string{"bench"}, false)
	in := e.putFile(b, archive)

	// The reference, 7z x -so, and the stage in turns, best of three each:
	// a busy machine slows both alike.
	ref, best := time.Duration(1<<62), time.Duration(1<<62)
	for range 3 {
		start := time.Now()
		cmd := exec.Command("7z", "x", "-so", "-pbench", archive)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatalf("7z x -so: %v", err)
		}
		ref = min(ref, time.Since(start))
		start = time.Now()
		if _, err := e.stage.Process(b.Context(), in); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.SetBytes(size)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := e.stage.Process(b.Context(), in); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	close(stop)
	wg.Wait()

	best = min(best, b.Elapsed()/time.Duration(n))
	mbs := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(best), "best-MB/s")
	b.ReportMetric(mbs(ref), "7z-best-MB/s")
	b.ReportMetric(mbs(best)/mbs(ref), "x7z")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n)/float64(size>>20), "B/MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
