package admin

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
)

// banResponse renders an address ban of the SFTP defender.
type banResponse struct {
	// Addr is the banned address; for IPv6, the first address of the banned
	// prefix.
	Addr   string    `json:"addr"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
	Count  int       `json:"count"` // bans of this address so far, this one included
}

// lockoutResponse renders an account lockout of the SFTP defender.
type lockoutResponse struct {
	Account string    `json:"account"` // the user name logins failed for
	Until   time.Time `json:"until"`
	Count   int       `json:"count"` // lockouts so far, this one included
}

// banKey orders bans by address, IPv4 before IPv6, numerically.
func banKey(b defender.Ban) string {
	a := b.Addr.Unmap()
	family := "6"
	if a.Is4() {
		family = "4"
	}
	return family + hex.EncodeToString(a.AsSlice())
}

// listBans answers GET /api/v1/defender/bans?limit=&cursor=, by address.
func (s *Server) listBans(c *echo.Context) error {
	if s.defender == nil {
		return unavailable("brute-force defender")
	}
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	bans, next, err := pageByKey(s.defender.Bans(), banKey, p)
	if err != nil {
		return err
	}
	items := make([]banResponse, len(bans))
	for i, b := range bans {
		items[i] = banResponse{Addr: b.Addr.String(), Reason: b.Reason, Until: b.Until.UTC(), Count: b.Count}
	}
	return c.JSON(http.StatusOK, newList(items, next))
}

// liftBan answers DELETE /api/v1/defender/bans/{addr}: the address may log in
// again at once, and its failures so far are forgotten. For IPv6, any address
// of a banned prefix lifts the prefix's ban.
func (s *Server) liftBan(c *echo.Context) error {
	if s.defender == nil {
		return unavailable("brute-force defender")
	}
	addr, err := netip.ParseAddr(pathParam(c, "addr"))
	if err != nil {
		return &credentials.ValidationError{Field: "addr", Reason: "must be an IPv4 or IPv6 address, such as 192.0.2.7 or 2001:db8::7"}
	}
	if !s.defender.Lift(addr) {
		return fmt.Errorf("ban of address %s: %w", addr, credentials.ErrNotFound)
	}
	return c.NoContent(http.StatusNoContent)
}

// listLockouts answers GET /api/v1/defender/lockouts?limit=&cursor=, by
// account name.
func (s *Server) listLockouts(c *echo.Context) error {
	if s.defender == nil {
		return unavailable("brute-force defender")
	}
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	lockouts, next, err := pageByKey(s.defender.Lockouts(), func(l defender.Lockout) string { return l.Account }, p)
	if err != nil {
		return err
	}
	items := make([]lockoutResponse, len(lockouts))
	for i, l := range lockouts {
		items[i] = lockoutResponse{Account: l.Account, Until: l.Until.UTC(), Count: l.Count}
	}
	return c.JSON(http.StatusOK, newList(items, next))
}

// unlockAccount answers DELETE /api/v1/defender/lockouts/{account}: the
// account may log in again at once, and its failures so far are forgotten.
// The name is taken as the defender knows it, which need not be a valid
// account name: lockouts count failures for any user name tried.
func (s *Server) unlockAccount(c *echo.Context) error {
	if s.defender == nil {
		return unavailable("brute-force defender")
	}
	name := pathParam(c, "account")
	if !s.defender.Unlock(name) {
		return fmt.Errorf("lockout of account %q: %w", name, credentials.ErrNotFound)
	}
	return c.NoContent(http.StatusNoContent)
}
