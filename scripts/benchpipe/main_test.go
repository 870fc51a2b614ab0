package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
)

// TestStages runs the benchmark's chain on a 1 MiB CSV, as
// scripts/bench-pipeline does: the CSV, the same zipped with AES-256 by 7z,
// that encrypted by gpg; each stage's figures must add up.
func TestStages(t *testing.T) {
	if _, err := exec.LookPath("7z"); err != nil {
		t.Skip("7z is not installed")
	}
	gpg := gnupgtest.New(t)
	dir := t.TempDir()
	csv, zip, pgp := filepath.Join(dir, "orders.csv"), filepath.Join(dir, "orders.zip"), filepath.Join(dir, "orders.zip.pgp")
	runOK(t, "-gen", "-size-mib", "1", "-out", csv)
	feed := filepath.Join(dir, "feed.json")
	require.NoError(t, os.WriteFile(feed, runOK(t, "-print-feed"), 0o600))

	pw := filepath.Join(dir, "zip.pw")
	require.NoError(t, os.WriteFile(pw, []byte("bench password\n"), 0o600))
	out, err := exec.CommandContext(t.Context(), "7z", "a", "-tzip", "-mem=AES256", "-pbench password", zip, csv).CombinedOutput()
	require.NoError(t, err, "7z: %s", out)
	gpg.Must(t, nil, "--quick-gen-key", "--passphrase", "", "bench <bench@example.invalid>", "default", "default", "never")
	key := filepath.Join(dir, "key.asc")
	require.NoError(t, os.WriteFile(key, gpg.Must(t, nil, "--passphrase", "", "--armor", "--export-secret-keys", "bench@example.invalid"), 0o600))
	gpg.Must(t, nil, "-r", "bench@example.invalid", "-o", pgp, "-e", zip)

	size := func(path string) int64 {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Size()
	}
	tests := []struct {
		name    string
		args    []string
		in, out int64
	}{
		{name: "pgp", args: []string{"-stage", "pgp", "-in", pgp, "-key", key}, in: size(pgp), out: size(zip)},
		{name: "zip", args: []string{"-stage", "zip", "-in", zip, "-zip-password-file", pw}, in: size(zip), out: size(csv)},
		{name: "csv", args: []string{"-stage", "csv", "-in", csv, "-feed", feed}, in: size(csv), out: size(csv)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Figures
			require.NoError(t, json.Unmarshal(runOK(t, tc.args...), &f))
			require.Equal(t, tc.name, f.Stage)
			require.Equal(t, tc.in, f.InBytes)
			require.Equal(t, tc.out, f.OutBytes, "the generated CSV is already normalised")
			require.Equal(t, 1, f.Outputs)
			require.Positive(t, f.Seconds)
			require.Positive(t, f.PeakRSSKiB)
			if tc.name == "csv" {
				require.Greater(t, f.Rows, int64(5000))
			}
			entries, err := filepath.Glob(filepath.Join(dir, "benchpipe-*"))
			require.NoError(t, err)
			require.Empty(t, entries, "the blob folder is removed")
		})
	}
}

func runOK(t *testing.T, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), args, &out))
	return out.Bytes()
}
