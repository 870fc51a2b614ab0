package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunnerConfigValidate(t *testing.T) {
	require.NoError(t, DefaultRunnerConfig().Validate())
	tests := []struct {
		name   string
		change func(*RunnerConfig)
		want   string
	}{
		{"no workers is an upload-only node", func(c *RunnerConfig) { c.Workers = 0 }, ""},
		{"negative workers", func(c *RunnerConfig) { c.Workers = -1 }, "pipeline.workers:"},
		{"max deliver", func(c *RunnerConfig) { c.MaxDeliver = 0 }, "pipeline.max_deliver:"},
		{"no backoff", func(c *RunnerConfig) { c.Backoff = nil }, "pipeline.backoff: give at least one pause"},
		{"backoff longer than the tries", func(c *RunnerConfig) { c.MaxDeliver = 3 }, "need pipeline.max_deliver of at least 6"},
		{"short backoff", func(c *RunnerConfig) { c.Backoff = []time.Duration{time.Millisecond} }, "at least 100ms"},
		{"heartbeat not below the first step", func(c *RunnerConfig) { c.Heartbeat = 10 * time.Second }, "pipeline.heartbeat:"},
		{"task timeout", func(c *RunnerConfig) { c.TaskTimeout = time.Second }, "pipeline.task_timeout:"},
		{"depth", func(c *RunnerConfig) { c.MaxDepth = 9 }, "pipeline.max_depth:"},
		{"duplicates", func(c *RunnerConfig) { c.Duplicates = 0 }, "pipeline.duplicates:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultRunnerConfig()
			tc.change(&c)
			if tc.want == "" {
				require.NoError(t, c.Validate())
				return
			}
			require.ErrorContains(t, c.Validate(), tc.want)
		})
	}
}

func TestRoute(t *testing.T) {
	cfg := DefaultRunnerConfig()
	tests := []struct {
		name   string
		chain  []string
		head   string
		next   string
		reject string
	}{
		{"csv", nil, "id,name\n", StageCSV, ""},
		{"zip by content, not name", nil, "PK\x03\x04rest", StageZIP, ""},
		{"armored openpgp", []string{"zip"}, "-----BEGIN PGP MESSAGE-----\n", StagePGP, ""},
		{"a fifth stage", []string{"pgp", "zip", "pgp", "zip"}, "id\n", "", "nested too deep: the file already went through 4 stages (pgp, zip, pgp, zip)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, reject := route(cfg, Object{Name: "x", Chain: tc.chain}, []byte(tc.head))
			require.Equal(t, tc.next, next)
			if tc.reject == "" {
				require.Empty(t, reject)
			} else {
				require.Contains(t, reject, tc.reject)
			}
		})
	}
}
