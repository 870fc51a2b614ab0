package csvcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
)

// newStage returns a Stage over a blob.Dir in a temporary folder, and the
// folder.
func newStage(t *testing.T, cfg Config, feeds ...credentials.Feed) (*Stage, *blob.Dir, string) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blob.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { blobs.Close() })
	s, err := New(cfg, blobs, staticFeeds(feeds), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return s, blobs, dir
}

// put stores content as the blob key.
func put(t *testing.T, blobs pipeline.Blobs, key string, content io.Reader) {
	t.Helper()
	w, err := blobs.Create(t.Context(), key)
	require.NoError(t, err)
	_, err = io.Copy(w, content)
	require.NoError(t, err)
	require.NoError(t, w.Commit())
}

// get reads the blob key.
func get(t *testing.T, blobs pipeline.Blobs, key string) string {
	t.Helper()
	r, err := blobs.Open(t.Context(), key)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

// input is an Object of the upload "up1" in the feed orders, as the unzip
// stage would hand it on.
func input(key string) pipeline.Object {
	return pipeline.Object{ID: "f1", UploadID: "up1", ParentID: "up1", Account: "acme", Feed: "orders",
		Name: "orders.csv", Key: key, Chain: []string{"zip"}, Encrypted: true}
}

func TestProcessAccepted(t *testing.T) {
	s, blobs, dir := newStage(t, DefaultConfig(), ordersFeed())
	require.Equal(t, "csv", s.Name())
	put(t, blobs, "up1/in", strings.NewReader("\xef\xbb\xbfid;email;amount;day;tier;note\r\n"+
		"1;a@example.com;1.50;2024-02-29;gold;\r\n2;b@example.com;-3;2024-03-01;silver;\r\n"))
	feed := ordersFeed()
	feed.Schema.AllowExtraColumns = true
	s.feeds = staticFeeds{feed}
	in := input("up1/in")
	outs, err := s.Process(t.Context(), in)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	out := outs[0]
	want := "id,email,amount,day,tier,note\n1,a@example.com,1.50,2024-02-29,gold,\n2,b@example.com,-3,2024-03-01,silver,\n"
	sum := sha256.Sum256([]byte(want))
	id := pipeline.ChildID("f1", "csv", "orders.csv")
	require.Equal(t, pipeline.Object{
		ID: id, UploadID: "up1", ParentID: "f1", Account: "acme", Feed: "orders", Name: "orders.csv",
		Key: "up1/" + id, Size: int64(len(want)), SHA256: hex.EncodeToString(sum[:]),
		Chain: []string{"zip", "csv"}, Encrypted: true,
		Result: &pipeline.Result{Accepted: true, Rows: 2, Columns: []string{"id", "email", "amount", "day", "tier", "note"}},
	}, out)
	require.Equal(t, want, get(t, blobs, out.Key))
	require.Equal(t, []string{"zip"}, in.Chain, "the input's chain is not changed")

	// A redelivery writes the same keys and returns an equal Object.
	again, err := s.Process(t.Context(), in)
	require.NoError(t, err)
	require.Equal(t, outs, again)
	requireNoTemporaryFiles(t, dir)

	// A retry after an administrator changed the feed rejects the file:
	// the rows accepted before are gone.
	feed.Schema.AllowExtraColumns = false
	s.feeds = staticFeeds{feed}
	rejected, err := s.Process(t.Context(), in)
	require.NoError(t, err)
	require.False(t, rejected[0].Result.Accepted)
	_, err = blobs.Open(t.Context(), out.Key)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestProcessRejected(t *testing.T) {
	s, blobs, dir := newStage(t, DefaultConfig(), ordersFeed())
	put(t, blobs, "up1/in", strings.NewReader("id,email,amount,day,tier\n1,a@example.com,1,2024-01-01,gold\n1,nope,x,2024-02-30,lead\n"))
	outs, err := s.Process(t.Context(), input("up1/in"))
	require.NoError(t, err, "a rejected file is a Result, not an error")
	require.Len(t, outs, 1)
	out := outs[0]
	require.Empty(t, out.Key)
	require.Zero(t, out.Size)
	require.Empty(t, out.SHA256)
	require.Equal(t, []string{"zip", "csv"}, out.Chain)
	res := out.Result
	require.False(t, res.Accepted)
	require.Equal(t, "1 of 2 data rows have errors; the feed rejects a file with any error (on_error: reject_file)", res.Reason)
	require.Equal(t, int64(0), res.Rows)
	require.Equal(t, int64(1), res.Rejected)
	require.Equal(t, int64(4), res.ProblemsN)
	require.Len(t, res.Problems, 4)
	require.Equal(t, pipeline.Problem{Line: 3, Column: "email", Value: "nope", Message: "not an email address of the form name@example.com (no display name, no angle brackets)"}, res.Problems[0])
	require.Equal(t, "up1/"+out.ID+".errors.csv", res.ProblemsKey)
	report := get(t, blobs, res.ProblemsKey)
	require.True(t, strings.HasPrefix(report, "line,column,value,message\n3,email,nope,"), report)
	_, err = blobs.Open(t.Context(), "up1/"+out.ID)
	require.ErrorIs(t, err, fs.ErrNotExist, "no accepted rows of a rejected file")
	requireNoTemporaryFiles(t, dir)
}

// TestProcessFeed checks the rejections decided before reading a byte: no
// feed for the folder, a deleted feed, a feed requirement missed.
func TestProcessFeed(t *testing.T) {
	encrypted := ordersFeed()
	encrypted.Name, encrypted.RequireEncryption = "secret", true
	signed := ordersFeed()
	signed.Name, signed.RequireSignature = "signed", true
	tests := []struct {
		name   string
		mod    func(*pipeline.Object)
		err    error
		reason string
	}{
		{"no feed", func(o *pipeline.Object) { o.Feed = "" }, ErrNoFeed, "no feed is configured for this folder"},
		{"feed deleted", func(o *pipeline.Object) { o.Feed = "gone" }, ErrFeedGone, `the feed "gone" no longer exists`},
		{"unencrypted", func(o *pipeline.Object) { o.Feed, o.Encrypted = "secret", false }, ErrUnencrypted, `the feed "secret" requires encrypted uploads`},
		{"unsigned", func(o *pipeline.Object) { o.Feed = "signed" }, ErrUnsigned, `the feed "signed" requires uploads signed with OpenPGP`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, blobs, _ := newStage(t, DefaultConfig(), ordersFeed(), encrypted, signed)
			put(t, blobs, "up1/in", strings.NewReader("id\n1\n"))
			in := input("up1/in")
			tc.mod(&in)
			rep, err := s.check(t.Context(), in, "up1/out")
			require.NoError(t, err)
			require.ErrorIs(t, rep.Err, tc.err)
			outs, err := s.Process(t.Context(), in)
			require.NoError(t, err)
			require.False(t, outs[0].Result.Accepted)
			require.Contains(t, outs[0].Result.Reason, tc.reason)
			require.Empty(t, outs[0].Result.ProblemsKey)
		})
	}
	t.Run("signed and encrypted", func(t *testing.T) {
		s, blobs, _ := newStage(t, DefaultConfig(), signed)
		put(t, blobs, "up1/in", strings.NewReader("id\n1\n"))
		in := input("up1/in")
		in.Feed, in.Signer = "signed", "0123456789ABCDEF"
		outs, err := s.Process(t.Context(), in)
		require.NoError(t, err)
		require.True(t, outs[0].Result.Accepted)
		require.Equal(t, "0123456789ABCDEF", outs[0].Signer)
	})
}

// TestProcessFaults checks that internal faults are errors to retry, not
// rejections.
func TestProcessFaults(t *testing.T) {
	s, _, _ := newStage(t, DefaultConfig(), ordersFeed())
	_, err := s.Process(t.Context(), input("up1/missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.False(t, pipeline.IsPermanent(err))

	broken := errors.New("database is down")
	s.feeds = failingFeeds{broken}
	_, err = s.Process(t.Context(), input("up1/in"))
	require.ErrorIs(t, err, broken)
}

type failingFeeds struct{ err error }

func (f failingFeeds) Feed(context.Context, string, string) (credentials.Feed, error) {
	return credentials.Feed{}, f.err
}

// TestProcessHugeLine sends a 100 MiB single line through the stage: it is
// refused quickly, and nothing is left behind.
func TestProcessHugeLine(t *testing.T) {
	s, blobs, dir := newStage(t, DefaultConfig(), ordersFeed())
	put(t, blobs, "up1/in", &lineReader{head: "id,email,amount,day,tier\n1,", n: 100 << 20})
	start := time.Now()
	var outs []pipeline.Object
	var err error
	mem := measureAlloc(func() { outs, err = s.Process(t.Context(), input("up1/in")) })
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Less(t, mem, uint64(8<<20))
	res := outs[0].Result
	require.False(t, res.Accepted)
	require.Equal(t, "line 2 is longer than 1048576 bytes, the limit for one line: is this a CSV text file with line breaks?", res.Reason)
	require.Equal(t, []pipeline.Problem{{Line: 2, Message: res.Reason}}, res.Problems)
	requireNoTemporaryFiles(t, dir)
}

// TestProcessSchemaError checks that a feed whose schema cannot be
// compiled rejects the file with a reason for the administrator.
func TestProcessSchemaError(t *testing.T) {
	feed := ordersFeed()
	feed.Schema.Columns = append(feed.Schema.Columns, credentials.Column{Name: "code", Type: "regex", Pattern: "("})
	s, blobs, _ := newStage(t, DefaultConfig(), feed)
	put(t, blobs, "up1/in", strings.NewReader("id\n1\n"))
	outs, err := s.Process(t.Context(), input("up1/in"))
	require.NoError(t, err)
	require.Contains(t, outs[0].Result.Reason, "the feed's schema is invalid")
	require.Contains(t, outs[0].Result.Reason, "an administrator must fix the feed")
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		mod func(*Config)
		key string
	}{
		{func(c *Config) { c.MaxLineBytes = 10 }, "pipeline.csvcheck.max_line_bytes"},
		{func(c *Config) { c.MaxFieldBytes = 2 << 20 }, "pipeline.csvcheck.max_field_bytes"},
		{func(c *Config) { c.MaxColumns = 0 }, "pipeline.csvcheck.max_columns"},
		{func(c *Config) { c.MaxErrors = 0 }, "pipeline.csvcheck.max_errors"},
		{func(c *Config) { c.MaxWarnings = -1 }, "pipeline.csvcheck.max_warnings"},
		{func(c *Config) { c.MaxUniqueValues = 0 }, "pipeline.csvcheck.max_unique_values"},
	} {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		_, err := New(cfg, nil, nil, slog.New(slog.DiscardHandler))
		require.ErrorContains(t, err, tc.key)
	}
	_, err := New(DefaultConfig(), nil, nil, nil)
	require.Error(t, err)
}

// requireNoTemporaryFiles checks that no blob writer left a temporary file.
func requireNoTemporaryFiles(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		require.False(t, strings.HasPrefix(d.Name(), ".tmp-"), "temporary file %s", path)
		return nil
	}))
	_, err := os.Stat(dir)
	require.NoError(t, err)
}
