package admin

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// accountRequest is the body of POST /api/v1/accounts.
type accountRequest struct {
	Name                  string   `json:"name"`
	QuotaBytes            int64    `json:"quota_bytes"`
	QuotaFiles            int64    `json:"quota_files"`
	MaxFileSize           int64    `json:"max_file_size"`
	AllowedCIDRs          []string `json:"allowed_cidrs"`
	Disabled              bool     `json:"disabled"`
	RequireKeyAndPassword bool     `json:"require_key_and_password"`
}

// accountResponse renders an account; AllowedCIDRs is never null.
func accountResponse(a credentials.Account) credentials.Account {
	if a.AllowedCIDRs == nil {
		a.AllowedCIDRs = []string{}
	}
	return a
}

// accountLocation is the URL path of an account.
func accountLocation(name string) string {
	return apiPrefix + "/accounts/" + url.PathEscape(name)
}

func (s *Server) createAccount(c *echo.Context) error {
	var req accountRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	a, err := s.svc.CreateAccount(c.Request().Context(), credentials.Account{
		Name:         req.Name,
		QuotaBytes:   req.QuotaBytes,
		QuotaFiles:   req.QuotaFiles,
		MaxFileSize:  req.MaxFileSize,
		AllowedCIDRs: req.AllowedCIDRs,
		Disabled:     req.Disabled,

		RequireKeyAndPassword: req.RequireKeyAndPassword,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, accountLocation(a.Name))
	return c.JSON(http.StatusCreated, accountResponse(a))
}

func (s *Server) listAccounts(c *echo.Context) error {
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	accounts, next, err := s.svc.Accounts(c.Request().Context(), p)
	if err != nil {
		return err
	}
	for i := range accounts {
		accounts[i] = accountResponse(accounts[i])
	}
	return c.JSON(http.StatusOK, newList(accounts, next))
}

func (s *Server) getAccount(c *echo.Context) error {
	a, err := s.svc.Account(c.Request().Context(), c.Param("account"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, accountResponse(a))
}

func (s *Server) updateAccount(c *echo.Context) error {
	var patch credentials.AccountPatch
	if err := decodeJSON(c, &patch); err != nil {
		return err
	}
	a, err := s.svc.UpdateAccount(c.Request().Context(), c.Param("account"), patch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, accountResponse(a))
}

func (s *Server) deleteAccount(c *echo.Context) error {
	if err := s.svc.DeleteAccount(c.Request().Context(), c.Param("account")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
