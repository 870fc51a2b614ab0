package admin

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
)

func TestPageByKey(t *testing.T) {
	cursor := func(k string) string { return base64.RawURLEncoding.EncodeToString([]byte(k)) }
	for _, tc := range []struct {
		name     string
		items    []string
		page     credentials.Page
		want     []string
		wantNext string
	}{
		{name: "empty", items: nil, page: credentials.Page{Limit: 2}, want: []string{}},
		{name: "sorted by key", items: []string{"c", "a", "b"}, page: credentials.Page{Limit: 10}, want: []string{"a", "b", "c"}},
		{name: "a full page has a next", items: []string{"c", "a", "b"}, page: credentials.Page{Limit: 2}, want: []string{"a", "b"}, wantNext: cursor("b")},
		{name: "an exact last page has none", items: []string{"b", "a"}, page: credentials.Page{Limit: 2}, want: []string{"a", "b"}},
		{name: "after the cursor", items: []string{"c", "a", "b", "d"}, page: credentials.Page{After: cursor("b"), Limit: 1}, want: []string{"c"}, wantNext: cursor("c")},
		{name: "the cursor's item is gone", items: []string{"a", "c"}, page: credentials.Page{After: cursor("b"), Limit: 5}, want: []string{"c"}},
		{name: "past the end", items: []string{"a"}, page: credentials.Page{After: cursor("z"), Limit: 5}, want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := pageByKey(tc.items, strings.Clone, tc.page)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.wantNext, next)
		})
	}
	_, _, err := pageByKey([]string{"a"}, strings.Clone, credentials.Page{After: "***", Limit: 1})
	require.ErrorIs(t, err, errBadCursor)
}
