package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Column types a feed schema may use.
var columnTypes = map[string]bool{
	"string": true, "integer": true, "decimal": true, "date": true, "datetime": true,
	"boolean": true, "email": true, "enum": true, "regex": true,
}

// Default layouts for date and datetime columns without a format.
const (
	DefaultDateLayout     = "2006-01-02"
	DefaultDatetimeLayout = time.RFC3339
)

// normaliseFeed validates f and fills in defaults.
func normaliseFeed(f *Feed) error {
	if err := CheckAccountName("name", f.Name); err != nil {
		return err
	}
	p, err := cleanFeedPath(f.Path)
	if err != nil {
		return err
	}
	f.Path = p
	switch f.OnError {
	case "":
		f.OnError = "reject_file"
	case "reject_file", "skip_rows":
	default:
		return invalid("on_error", "must be reject_file or skip_rows (got %q)", f.OnError)
	}
	if f.MaxErrorRate < 0 || f.MaxErrorRate > 1 {
		return invalid("max_error_rate", "must be between 0 and 1 (a fraction of the data rows)")
	}
	if err := checkExpectedEvery(f.ExpectedEvery); err != nil {
		return err
	}
	return normaliseSchema(&f.Schema)
}

// Bounds of a feed's ExpectedEvery, when set.
const (
	MinExpectedEvery = time.Minute
	MaxExpectedEvery = 90 * 24 * time.Hour
)

// checkExpectedEvery validates a feed's ExpectedEvery: 0 (none), or whole
// seconds between MinExpectedEvery and MaxExpectedEvery.
func checkExpectedEvery(d time.Duration) error {
	const field = "expected_every"
	switch {
	case d == 0:
		return nil
	case d < 0:
		return invalid(field, "must not be negative (\"\" means no expectation)")
	case d < MinExpectedEvery:
		return invalid(field, "must be at least %s (got %s)", FormatExpectedEvery(MinExpectedEvery), FormatExpectedEvery(d))
	case d > MaxExpectedEvery:
		return invalid(field, "must be at most %s, 90 days (got %s)", FormatExpectedEvery(MaxExpectedEvery), FormatExpectedEvery(d))
	case d%time.Second != 0:
		return invalid(field, "must be a whole number of seconds (got %s)", FormatExpectedEvery(d))
	}
	return nil
}

// ParseExpectedEvery parses the JSON form of a feed's ExpectedEvery: a Go
// duration string such as "24h" or "1h30m", "" for none. A string that is
// not a duration is a *ValidationError for field "expected_every"; the range
// is checked when the feed is saved. It is safe for concurrent use.
func ParseExpectedEvery(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return 0, invalid("expected_every", "must be a duration such as \"24h\" or \"90m\" (units s, m, h; there is no unit for days), got %q", s)
	}
	return d, nil
}

// FormatExpectedEvery formats a feed's ExpectedEvery for JSON: "" for none,
// otherwise the Go duration without trailing zero units ("24h", "1h30m",
// "90m" as "1h30m"). ParseExpectedEvery reads it back. It is safe for
// concurrent use.
func FormatExpectedEvery(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// feedJSON is a Feed without its JSON methods.
type feedJSON Feed

// MarshalJSON writes f with ExpectedEvery as "expected_every", a duration
// string ("" for none).
func (f Feed) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		feedJSON
		ExpectedEvery string `json:"expected_every"`
	}{feedJSON(f), FormatExpectedEvery(f.ExpectedEvery)})
}

// UnmarshalJSON reads f, taking "expected_every" as a duration string (""
// or absent for none); a bad one is a *ValidationError.
func (f *Feed) UnmarshalJSON(b []byte) error {
	v := struct {
		*feedJSON
		ExpectedEvery string `json:"expected_every"`
	}{feedJSON: (*feedJSON)(f)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := ParseExpectedEvery(v.ExpectedEvery)
	if err != nil {
		return err
	}
	f.ExpectedEvery = d
	return nil
}

// cleanFeedPath checks that p is an absolute folder of the account's tree
// outside /reports, and returns it in clean form.
func cleanFeedPath(p string) (string, error) {
	switch {
	case p == "":
		return "", invalid("path", "is required (\"/\" is the account's default feed)")
	case !strings.HasPrefix(p, "/"):
		return "", invalid("path", "must be absolute, starting with /")
	case len(p) > 4096:
		return "", invalid("path", "must be at most 4096 bytes")
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return "", invalid("path", "must not contain control characters")
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." || elem == "." {
			return "", invalid("path", "must not contain . or .. elements")
		}
		if len(elem) > 255 {
			return "", invalid("path", "each folder name must be at most 255 bytes")
		}
	}
	clean := path.Clean(p)
	if clean == "/reports" || strings.HasPrefix(clean, "/reports/") {
		return "", invalid("path", "/reports is reserved for processing reports")
	}
	return clean, nil
}

func normaliseSchema(s *Schema) error {
	switch s.Delimiter {
	case "":
		s.Delimiter = "auto"
	case "tab", "TAB":
		s.Delimiter = "\t"
	case "auto", ",", ";", "\t", "|":
	default:
		return invalid("schema.delimiter", "must be auto, \",\", \";\", \"\\t\" or \"|\" (got %q)", s.Delimiter)
	}
	switch strings.ToLower(s.Encoding) {
	case "", "utf-8", "utf8":
		s.Encoding = "utf-8"
	case "windows-1252", "cp1252":
		s.Encoding = "windows-1252"
	case "latin-1", "latin1", "iso-8859-1":
		s.Encoding = "latin-1"
	default:
		return invalid("schema.encoding", "must be utf-8, windows-1252 or latin-1 (got %q)", s.Encoding)
	}
	if len(s.Columns) == 0 {
		return invalid("schema.columns", "at least one column is required")
	}
	seen := map[string]int{}
	for i := range s.Columns {
		if err := normaliseColumn(i, &s.Columns[i], seen); err != nil {
			return err
		}
	}
	return nil
}

func normaliseColumn(i int, c *Column, seen map[string]int) error {
	field := func(name string) string { return fmt.Sprintf("schema.columns[%d].%s", i, name) }
	c.Name = strings.TrimSpace(c.Name)
	key := strings.ToLower(c.Name)
	switch {
	case c.Name == "":
		return invalid(field("name"), "is required")
	case len(c.Name) > 128:
		return invalid(field("name"), "must be at most 128 bytes")
	case seen[key] > 0:
		return invalid(field("name"), "duplicate column name %q (also column %d; names are compared case-insensitively)", c.Name, seen[key]-1)
	}
	seen[key] = i + 1
	if !columnTypes[c.Type] {
		return invalid(field("type"), "unknown column type %q; one of string, integer, decimal, date, datetime, boolean, email, enum, regex", c.Type)
	}
	if c.MaxLen < 0 {
		return invalid(field("max_length"), "must not be negative")
	}
	if len(c.Values) > 0 && c.Type != "enum" {
		return invalid(field("values"), "applies only to enum columns")
	}
	if c.Pattern != "" && c.Type != "regex" {
		return invalid(field("pattern"), "applies only to regex columns")
	}
	if c.Format != "" && c.Type != "date" && c.Type != "datetime" {
		return invalid(field("format"), "applies only to date and datetime columns")
	}
	switch c.Type {
	case "enum":
		if len(c.Values) == 0 {
			return invalid(field("values"), "an enum column needs at least one value")
		}
		vals := map[string]bool{}
		for _, v := range c.Values {
			if vals[v] {
				return invalid(field("values"), "duplicate value %q", v)
			}
			vals[v] = true
		}
	case "regex":
		if c.Pattern == "" {
			return invalid(field("pattern"), "a regex column needs a pattern")
		}
		if _, err := regexp.Compile(c.Pattern); err != nil {
			return invalid(field("pattern"), "does not compile: %v", err)
		}
	case "date", "datetime":
		if c.Format == "" {
			c.Format = DefaultDateLayout
			if c.Type == "datetime" {
				c.Format = DefaultDatetimeLayout
			}
		}
		if err := checkLayout(c.Format); err != nil {
			return invalid(field("format"), "%v", err)
		}
	}
	return nil
}

// checkLayout reports whether layout is a usable Go time layout: it must
// format a reference time into something that parses back to the same date.
func checkLayout(layout string) error {
	ref := time.Date(2023, 11, 24, 13, 45, 56, 0, time.UTC)
	s := ref.Format(layout)
	if s == layout {
		return fmt.Errorf("%q is not a Go time layout: write the reference date 2006-01-02 15:04:05 in the wanted form", layout)
	}
	back, err := time.Parse(layout, s)
	if err != nil {
		return fmt.Errorf("%q is not a usable Go time layout: %v", layout, err)
	}
	if back.Year() != ref.Year() || back.YearDay() != ref.YearDay() {
		return fmt.Errorf("%q does not name year, month and day: use 2006, 01 (or Jan) and 02", layout)
	}
	return nil
}

// PutFeed validates f and creates or replaces the feed f.Account/f.Name,
// creating its folder in the account's tree. It reports whether the feed is
// new.
func (s *Service) PutFeed(ctx context.Context, f Feed) (Feed, bool, error) {
	if err := normaliseFeed(&f); err != nil {
		return Feed{}, false, err
	}
	now := s.now()
	f.CreatedAt, f.UpdatedAt = now, now
	created, err := s.store.PutFeed(ctx, f)
	s.feeds.forget(f.Account)
	if err != nil {
		return Feed{}, false, err
	}
	if err := s.makeFolder(f.Account, f.Path); err != nil {
		return Feed{}, false, err
	}
	saved, err := s.store.Feed(ctx, f.Account, f.Name)
	return saved, created, err
}

// makeFolder creates dir (a clean absolute path) inside the account's home,
// resolving it through os.Root so that nothing on disk can redirect it.
func (s *Service) makeFolder(account, dir string) error {
	home := filepath.Join(s.cfg.HomeDir, account)
	if err := os.MkdirAll(home, 0o750); err != nil {
		return fmt.Errorf("create home folder of account %q: %w", account, err)
	}
	root, err := os.OpenRoot(home)
	if err != nil {
		return fmt.Errorf("open home folder of account %q: %w", account, err)
	}
	defer root.Close()
	if rel := strings.TrimPrefix(dir, "/"); rel != "" {
		if err := root.MkdirAll(rel, 0o750); err != nil {
			return fmt.Errorf("create folder %q of account %q: %w", dir, account, err)
		}
	}
	return nil
}

// Feed returns the named feed of the account.
func (s *Service) Feed(ctx context.Context, account, name string) (Feed, error) {
	return s.store.Feed(ctx, account, name)
}

// Feeds returns every feed of the account, ordered by name.
func (s *Service) Feeds(ctx context.Context, account string) ([]Feed, error) {
	return s.store.Feeds(ctx, account)
}

// AllFeeds returns every feed of every account, by account and name; the
// feed metrics read it. It is safe for concurrent use.
func (s *Service) AllFeeds(ctx context.Context) ([]Feed, error) {
	return s.store.AllFeeds(ctx)
}

// DeleteFeed deletes the named feed of the account. Its folder stays.
func (s *Service) DeleteFeed(ctx context.Context, account, name string) error {
	defer s.feeds.forget(account)
	return s.store.DeleteFeed(ctx, account, name)
}
