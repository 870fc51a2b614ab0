package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig("", nil, func(string) {})
	require.NoError(t, err)
	require.Equal(t, "./data", cfg.DataDir)
	require.Equal(t, "127.0.0.1:8080", cfg.Admin.Listen)
	require.Equal(t, "sqlite", cfg.Store.Driver)
	require.Equal(t, int64(1<<20), cfg.Admin.BodyLimit)
}

func TestLoadConfigExampleFile(t *testing.T) {
	cfg, err := loadConfig("../../configs/sluice.yaml", nil, func(string) {})
	require.NoError(t, err)
	require.Equal(t, "/var/lib/sluice", cfg.DataDir)
	require.Equal(t, "json", cfg.Log.Format)
	require.Equal(t, 15*time.Second, cfg.Admin.ShutdownTimeout)
}

func TestLoadConfigLayers(t *testing.T) {
	path := writeFile(t, "sluice.yaml", "data_dir: /from/file\nadmin:\n  listen: 127.0.0.1:9000\n  read_timeout: 5s\n")
	var warnings []string
	cfg, err := loadConfig(path, []string{
		"SLUICE_ADMIN_LISTEN=127.0.0.1:9100", // env beats file
		"SLUICE_STORE_DSN=/tmp/x.db",
		"SLUICE_LOG_LEVEL=debug",
		"SLUICE_ADMNI_LISTEN=typo",     // unknown: warned about, ignored
		"SLUICE_MASTER_KEY=not-config", // known non-config variable: silent
		"PATH=/usr/bin",                // not ours
	}, func(w string) { warnings = append(warnings, w) })
	require.NoError(t, err)
	require.Equal(t, "/from/file", cfg.DataDir)
	require.Equal(t, "127.0.0.1:9100", cfg.Admin.Listen)
	require.Equal(t, 5*time.Second, cfg.Admin.ReadTimeout)
	require.Equal(t, "/tmp/x.db", cfg.Store.DSN)
	require.Equal(t, "debug", cfg.Log.Level)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "SLUICE_ADMNI_LISTEN")
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     []string
		wantErr string
	}{
		{name: "unknown top-level key", file: "data_dri: /x\n", wantErr: `unknown key "data_dri"`},
		{name: "unknown nested key", file: "admin:\n  lisen: :80\n", wantErr: `unknown key "admin.lisen"`},
		{name: "bad duration", file: "admin:\n  read_timeout: 5 minutes\n", wantErr: `admin.read_timeout: invalid duration "5 minutes": use a number and a unit`},
		{name: "bad duration from env", env: []string{"SLUICE_ADMIN_IDLE_TIMEOUT=forever"}, wantErr: `admin.idle_timeout: invalid duration "forever"`},
		{name: "bad number", file: "admin:\n  body_limit: lots\n", wantErr: "admin.body_limit"},
		{name: "bad driver", file: "store:\n  driver: mysql\n", wantErr: `store.driver: "mysql" is not one of sqlite, postgres`},
		{name: "postgres without dsn", env: []string{"SLUICE_STORE_DRIVER=postgres"}, wantErr: "store.dsn: required"},
		{name: "bad log level", file: "log:\n  level: loud\n", wantErr: `log.level: "loud"`},
		{name: "weak argon2", file: "credentials:\n  argon2:\n    memory_kib: 1024\n", wantErr: "credentials.argon2"},
		{name: "not yaml", file: "admin: [1, 2\n", wantErr: "config file"},
		{name: "empty data_dir", env: []string{"SLUICE_DATA_DIR="}, wantErr: "data_dir: must not be empty"},
		{name: "short archive retention", file: "retention:\n  archive: 5m\n", wantErr: "retention.archive: must be at least 1h"},
		{name: "negative workers", env: []string{"SLUICE_PIPELINE_WORKERS=-1"}, wantErr: "pipeline.workers:"},
		{name: "bad backoff", file: "pipeline:\n  backoff: [10 seconds]\n", wantErr: "pipeline.backoff"},
		{name: "bad blob driver", file: "blob:\n  driver: s3\n", wantErr: `blob.driver: must be "local" or "nats"`},
		{name: "bad stage limit", file: "pipeline:\n  unzip:\n    max_nesting: 9\n", wantErr: "pipeline.unzip.max_nesting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "sluice.yaml", tc.file)
			}
			_, err := loadConfig(path, tc.env, func(string) {})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestConfigPrintRedacts(t *testing.T) {
	t.Setenv("SLUICE_STORE_DRIVER", "postgres")
	t.Setenv("SLUICE_STORE_DSN", "postgres://sluice:hunter2-very-secret@db:5432/sluice")
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"config", "print"}, &out, &errOut))
	require.NotContains(t, out.String(), "hunter2-very-secret")
	require.Contains(t, out.String(), "postgres://sluice:xxxxx@db:5432/sluice")
	require.Contains(t, out.String(), "listen: 127.0.0.1:8080")
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p4ss@h/db":          "postgres://u:xxxxx@h/db",
		"postgres://u@h/db":               "postgres://u@h/db",
		"host=h user=u password=p4ss x=1": "host=h user=u password=xxxxx x=1",
		"host=h password='p 4ss' x=1":     "host=h password=xxxxx x=1",
		"/var/lib/sluice/sluice.db":       "/var/lib/sluice/sluice.db",
	} {
		got := redactDSN(in)
		require.Equal(t, want, got, in)
		require.False(t, strings.Contains(got, "p4ss"))
	}
}
