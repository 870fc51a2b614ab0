package admin

import (
	"net/http"
	"strconv"

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
