package admin

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// feedRequest is the body of PUT /api/v1/accounts/{account}/feeds/{feed}:
// a credentials.Feed without its identity and timestamps, which come from
// the path and the store.
type feedRequest struct {
	Path              string             `json:"path"`
	OnError           string             `json:"on_error"`
	MaxErrorRate      float64            `json:"max_error_rate"`
	RequireEncryption bool               `json:"require_encryption"`
	RequireSignature  bool               `json:"require_signature"`
	AllowZipCrypto    bool               `json:"allow_zipcrypto"`
	Schema            credentials.Schema `json:"schema"`
	ExpectedEvery     string             `json:"expected_every"` // a Go duration, "" for none
}

// feed returns the feed the request describes. A bad expected_every is a
// *credentials.ValidationError.
func (r feedRequest) feed(account, name string) (credentials.Feed, error) {
	every, err := credentials.ParseExpectedEvery(r.ExpectedEvery)
	if err != nil {
		return credentials.Feed{}, err
	}
	return credentials.Feed{
		Account:           account,
		Name:              name,
		Path:              r.Path,
		OnError:           r.OnError,
		MaxErrorRate:      r.MaxErrorRate,
		RequireEncryption: r.RequireEncryption,
		RequireSignature:  r.RequireSignature,
		AllowZipCrypto:    r.AllowZipCrypto,
		Schema:            r.Schema,
		ExpectedEvery:     every,
	}, nil
}

// feedResponse renders a feed; Columns is never null.
func feedResponse(f credentials.Feed) credentials.Feed {
	if f.Schema.Columns == nil {
		f.Schema.Columns = []credentials.Column{}
	}
	return f
}

func (s *Server) putFeed(c *echo.Context) error {
	var req feedRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	feed, err := req.feed(c.Param("account"), c.Param("feed"))
	if err != nil {
		return err
	}
	f, created, err := s.svc.PutFeed(c.Request().Context(), feed)
	if err != nil {
		return err
	}
	if !created {
		return c.JSON(http.StatusOK, feedResponse(f))
	}
	c.Response().Header().Set(echo.HeaderLocation,
		accountLocation(f.Account)+"/feeds/"+url.PathEscape(f.Name))
	return c.JSON(http.StatusCreated, feedResponse(f))
}

func (s *Server) getFeed(c *echo.Context) error {
	f, err := s.svc.Feed(c.Request().Context(), c.Param("account"), c.Param("feed"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, feedResponse(f))
}

func (s *Server) listFeeds(c *echo.Context) error {
	feeds, err := s.svc.Feeds(c.Request().Context(), c.Param("account"))
	if err != nil {
		return err
	}
	for i := range feeds {
		feeds[i] = feedResponse(feeds[i])
	}
	return c.JSON(http.StatusOK, newList(feeds, ""))
}

func (s *Server) deleteFeed(c *echo.Context) error {
	if err := s.svc.DeleteFeed(c.Request().Context(), c.Param("account"), c.Param("feed")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
