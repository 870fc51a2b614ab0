package csvcheck

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGoldenReports checks the errors report and the Result of whole files
// against golden files; go test -run TestGoldenReports -update rewrites
// them.
func TestGoldenReports(t *testing.T) {
	skip := ordersFeed()
	skip.OnError, skip.MaxErrorRate = "skip_rows", 0.5
	skip.Schema.Columns = append(skip.Schema.Columns,
		credentials.Column{Name: "note", Type: "string"},
		credentials.Column{Name: "active", Type: "boolean"},
		credentials.Column{Name: "at", Type: "datetime"},
		credentials.Column{Name: "code", Type: "regex", Pattern: `[A-Z]{2}\d{3}`})
	tests := []struct {
		name  string
		feed  credentials.Feed
		input string
	}{
		{
			name: "skip-rows",
			feed: skip,
			input: "id;email;amount;day;tier;note;active;at;code\r\n" +
				"1;a@example.com;10.50;2024-02-29;gold;fine;yes;2024-02-29T10:00:00Z;AB123\r\n" +
				"2;not-an-email;1,5;2024-02-30;bronze;;maybe;yesterday;ab123\r\n" +
				"3;c@example.com;3;2024-03-01;silver;\"=HYPERLINK(\"\"http://x\"\")\";no;2024-03-01T00:00:00+01:00;CD456\r\n" +
				"3;d@example.com;4;2024-03-02;gold;dup;1;2024-03-02T00:00:00Z;EF789\r\n" +
				"4;e@example.com;5;2024-03-03;gold;\"multi\r\nline note\";0;2024-03-03T00:00:00Z;GH012\r\n" +
				"5;f@example.com;6;2024-03-04;gold;ragged\r\n" +
				";g@example.com;7;2024-03-05;gold;@mention;true;2024-03-05T00:00:00Z;IJ345\r\n" +
				"6;h@example.com;8;2024-03-06;gold;" + strings.Repeat("long ", 20) + ";false;2024-03-06T00:00:00Z;KL678\r\n",
		},
		{
			name: "reject-file",
			feed: ordersFeed(),
			input: "id,email,amount,day,tier\n" +
				"1,a@example.com,1,2024-01-01,gold\n" +
				"x,Ann <ann@example.com>,1e3,01/02/2024,Gold\n" +
				"3,c@example.com,3,2024-01-03,silver,extra\n",
		},
		{
			name:  "missing-column",
			feed:  ordersFeed(),
			input: "email,amount,tier,colour\na@example.com,1,gold,red\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, blobs, _ := newStage(t, DefaultConfig(), tc.feed)
			put(t, blobs, "up1/in", strings.NewReader(tc.input))
			in := input("up1/in")
			in.Feed = tc.feed.Name
			outs, err := s.Process(t.Context(), in)
			require.NoError(t, err)
			res := outs[0].Result
			got, err := json.MarshalIndent(res, "", "  ")
			require.NoError(t, err)
			golden(t, tc.name+".result.json", string(got)+"\n")
			if res.ProblemsKey != "" {
				golden(t, tc.name+".errors.csv", get(t, blobs, res.ProblemsKey))
			}
		})
	}
}

// golden compares got with testdata/golden/name, or rewrites it under
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o600))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run TestGoldenReports -update to create it")
	require.Equal(t, string(want), got)
}
