package csvcheck

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
)

// benchFeed is DESIGN.md's example schema plus five more columns: string,
// integer, boolean, datetime and regex.
func benchFeed() credentials.Feed {
	return credentials.Feed{
		Account: "acme", Name: "orders", Path: "/orders", OnError: "reject_file",
		Schema: credentials.Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []credentials.Column{
			{Name: "id", Type: "integer", Required: true, Unique: true},
			{Name: "email", Type: "email"},
			{Name: "amount", Type: "decimal"},
			{Name: "day", Type: "date", Format: "2006-01-02"},
			{Name: "tier", Type: "enum", Values: []string{"gold", "silver", "bronze"}},
			{Name: "name", Type: "string", MaxLen: 100},
			{Name: "qty", Type: "integer"},
			{Name: "active", Type: "boolean"},
			{Name: "created", Type: "datetime", Format: time.RFC3339},
			{Name: "code", Type: "regex", Pattern: `[A-Z]{3}-[0-9]{4}`},
		}},
	}
}

// writeBenchCSV writes a valid CSV of benchFeed's schema of about size
// bytes to w; quoted encloses every field in quotes, as some spreadsheets
// export.
func writeBenchCSV(w io.Writer, size int64, quoted bool) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	n, _ := bw.WriteString("id,email,amount,day,tier,name,qty,active,created,code\n")
	written := int64(n)
	tiers := []string{"gold", "silver", "bronze"}
	names := []string{"Alice Martin", "Bob Dupont", "Chloé Müller", "Dara O'Neill", "Émile Zola"}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var line []byte
	for i := int64(1); written < size; i++ {
		line = line[:0]
		line = strconv.AppendInt(line, i, 10)
		line = append(line, ",user"...)
		line = strconv.AppendInt(line, i%100000, 10)
		line = append(line, "@example.com,"...)
		line = strconv.AppendInt(line, i%100000, 10)
		line = append(line, '.')
		line = strconv.AppendInt(line, 10+i%90, 10)
		line = append(line, ',')
		t := t0.Add(time.Duration(i) * 7 * time.Second)
		line = t.AppendFormat(line, "2006-01-02")
		line = append(line, ',')
		line = append(line, tiers[i%3]...)
		line = append(line, ',')
		line = append(line, names[i%5]...)
		line = append(line, ',')
		line = strconv.AppendInt(line, i%1000, 10)
		line = append(line, ',')
		line = strconv.AppendBool(line, i%2 == 0)
		line = append(line, ',')
		line = t.AppendFormat(line, time.RFC3339)
		line = append(line, ",ABC-"...)
		line = strconv.AppendInt(line, 1000+i%9000, 10)
		line = append(line, '\n')
		if quoted {
			line = append([]byte{'"'}, bytes.ReplaceAll(line[:len(line)-1], []byte{','}, []byte(`","`))...)
			line = append(line, '"', '\n')
		}
		n, err := bw.Write(line)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return bw.Flush()
}

// benchFile returns a ~256 MiB benchmark CSV, made once and kept in the
// system's temporary folder (SLUICE_BENCH_CSV names another file).
func benchFile(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("SLUICE_BENCH_CSV"); p != "" {
		return p
	}
	const size = 256 << 20
	path := filepath.Join(os.TempDir(), "sluice-csvcheck-bench-256m.csv")
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
		return path
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		b.Fatal(err)
	}
	if err := writeBenchCSV(f, size, false); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		b.Fatal(err)
	}
	return path
}

// wcRate measures `wc -l` on path, the floor the issue compares against,
// in MB/s (the file is in the page cache by then).
func wcRate(b *testing.B, path string, size int64) float64 {
	b.Helper()
	best := 0.0
	for range 3 {
		start := time.Now()
		if err := exec.Command("wc", "-l", path).Run(); err != nil {
			b.Skipf("wc -l: %v", err)
		}
		best = max(best, float64(size)/1e6/time.Since(start).Seconds())
	}
	return best
}

// BenchmarkValidate validates the benchmark file into io.Discard and
// reports MB/s next to `wc -l` on the same file, and the bytes and
// allocations per MiB of input. Run it on one core:
//
//	go test -run '^$' -bench Validate -benchtime 5x -cpu 1 ./pipeline/csvcheck/
func BenchmarkValidate(b *testing.B) {
	path := benchFile(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewValidator(DefaultConfig(), benchFeed())
	if err != nil {
		b.Fatal(err)
	}
	wc := wcRate(b, path, fi.Size())
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := v.Validate(b.Context(), f, io.Discard)
		f.Close()
		if err != nil || !rep.Accepted() {
			b.Fatalf("validate: %v %v", err, rep.Err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	mib := float64(fi.Size()) / (1 << 20) * float64(b.N)
	b.ReportMetric(wc, "wc-l-MB/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/mib, "allocs/MiB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/mib, "B-alloc/MiB")
}

// BenchmarkProcess runs the whole stage on the benchmark file: blob.Dir in
// and out, SHA-256 of the output, fsync on commit.
func BenchmarkProcess(b *testing.B) {
	path := benchFile(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "up"), 0o750); err != nil {
		b.Fatal(err)
	}
	if err := os.Link(path, filepath.Join(dir, "up", "in.csv")); err != nil {
		b.Skipf("hard link the benchmark file: %v", err)
	}
	blobs, err := blob.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer blobs.Close()
	s, err := New(DefaultConfig(), blobs, staticFeeds{benchFeed()}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	in := pipeline.Object{ID: "in", UploadID: "up", Account: "acme", Feed: "orders", Name: "in.csv", Key: "up/in.csv"}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		outs, err := s.Process(b.Context(), in)
		if err != nil || !outs[0].Result.Accepted {
			b.Fatalf("process: %v %+v", err, outs)
		}
	}
	b.StopTimer()
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes, 0 when
// unknown. Run one benchmark per process for it to mean something.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// BenchmarkValidateQuoted validates 64 MiB of CSV whose every field is
// quoted: the scanner's careful path.
func BenchmarkValidateQuoted(b *testing.B) {
	var data bytes.Buffer
	if err := writeBenchCSV(&data, 64<<20, true); err != nil {
		b.Fatal(err)
	}
	v, err := NewValidator(DefaultConfig(), benchFeed())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(data.Len()))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := v.Validate(b.Context(), bytes.NewReader(data.Bytes()), io.Discard)
		if err != nil || !rep.Accepted() {
			b.Fatalf("validate: %v %v", err, rep.Err)
		}
	}
}
