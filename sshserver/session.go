package sshserver

import (
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/credentials"
)

// Session describes one authenticated SSH connection. It is created when a
// login succeeds and is not modified afterwards, so it is safe for concurrent
// reads.
type Session struct {
	ID             string              // ULID
	Account        credentials.Account // as of login
	Remote         netip.AddrPort
	ClientVersion  string
	Method         string // "password" | "publickey" | "publickey,password"
	KeyFingerprint string // for key logins
	Started        time.Time
}
