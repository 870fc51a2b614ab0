package csvcheck

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

// staticFeeds is a Feeds holding fixed feeds.
type staticFeeds []credentials.Feed

func (fs staticFeeds) Feed(_ context.Context, account, name string) (credentials.Feed, error) {
	for _, f := range fs {
		if f.Account == account && f.Name == name {
			return f, nil
		}
	}
	return credentials.Feed{}, credentials.ErrNotFound
}

// ordersFeed is DESIGN.md's example feed: acme/orders, reject_file.
func ordersFeed() credentials.Feed {
	return credentials.Feed{
		Account: "acme", Name: "orders", Path: "/orders", OnError: "reject_file",
		Schema: credentials.Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []credentials.Column{
			{Name: "id", Type: "integer", Required: true, Unique: true},
			{Name: "email", Type: "email"},
			{Name: "amount", Type: "decimal"},
			{Name: "day", Type: "date", Format: "2006-01-02"},
			{Name: "tier", Type: "enum", Values: []string{"gold", "silver"}},
		}},
	}
}

// simpleFeed has the columns id (integer, required, unique) and name
// (string).
func simpleFeed() credentials.Feed {
	return credentials.Feed{
		Account: "acme", Name: "simple", Path: "/", OnError: "reject_file",
		Schema: credentials.Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []credentials.Column{
			{Name: "id", Type: "integer", Required: true, Unique: true},
			{Name: "name", Type: "string"},
		}},
	}
}

// validate runs a Validator of feed and cfg on input and returns its
// report and output.
func validate(t *testing.T, cfg Config, feed credentials.Feed, input string) (*Report, string) {
	t.Helper()
	v, err := NewValidator(cfg, feed)
	require.NoError(t, err)
	var out bytes.Buffer
	rep, err := v.Validate(t.Context(), strings.NewReader(input), &out)
	require.NoError(t, err)
	return rep, out.String()
}

// problemsOf returns the problems of rep that wrap kind.
func problemsOf(rep *Report, kind error) []Problem {
	var ps []Problem
	for _, p := range rep.Problems {
		if p.Err == kind {
			ps = append(ps, p)
		}
	}
	return ps
}

// measureAlloc returns the bytes f allocates on the heap.
func measureAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
