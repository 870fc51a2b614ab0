package admin

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// List paging limits.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// pageFrom reads the limit and cursor query parameters of a list.
func pageFrom(c *echo.Context) (credentials.Page, error) {
	p := credentials.Page{After: c.QueryParam("cursor"), Limit: defaultLimit}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, httpError(http.StatusBadRequest, "limit: must be an integer from 1 to %d", maxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// list is the body of every list response.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// newList returns a list whose Items is never null.
func newList[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Next: next}
}

// errBadCursor answers a cursor that is not the next value of a page.
var errBadCursor = &credentials.ValidationError{Field: "cursor", Reason: "invalid cursor: use the next value of a previous page"}

// pageByKey pages a list held in memory (bans, lockouts, sessions). It sorts
// items by key, which must be unique and never change for an item, and
// returns at most p.Limit of those whose key follows the cursor p.After, with
// the cursor of the next page ("" after the last). Because the cursor is a
// key, not an offset, entries that come and go between two requests move no
// other entry across a page boundary.
func pageByKey[T any](items []T, key func(T) string, p credentials.Page) ([]T, string, error) {
	var after string
	if p.After != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.After)
		if err != nil || len(b) == 0 {
			return nil, "", errBadCursor
		}
		after = string(b)
	}
	type keyed struct {
		key  string
		item T
	}
	page := make([]keyed, 0, len(items))
	for _, it := range items {
		if k := key(it); after == "" || k > after {
			page = append(page, keyed{k, it})
		}
	}
	slices.SortFunc(page, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	next := ""
	if p.Limit > 0 && len(page) > p.Limit {
		page = page[:p.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].key))
	}
	out := make([]T, len(page))
	for i, k := range page {
		out[i] = k.item
	}
	return out, next, nil
}

// pathParam returns the path parameter name, unescaped. echo matches on the
// escaped path, and hands over escaped parameters, when the request path
// holds escapes its default encoding would not produce (%2F, say).
func pathParam(c *echo.Context, name string) string {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
