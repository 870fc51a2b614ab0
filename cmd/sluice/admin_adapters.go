package main

import (
	"github.com/sluicehq/sluice/admin"
	"github.com/sluicehq/sluice/sshserver"
)

// adminSessions lets the admin API list and end the SFTP server's sessions
// (admin.Sessions); admin and sshserver are siblings that never import each
// other.
type adminSessions struct{ srv *sshserver.Server }

func (a adminSessions) Sessions() []admin.Session {
	ss := a.srv.Sessions()
	out := make([]admin.Session, len(ss))
	for i, s := range ss {
		out[i] = admin.Session{
			ID:             s.ID,
			Account:        s.Account.Name,
			Remote:         s.Remote,
			ClientVersion:  s.ClientVersion,
			Method:         s.Method,
			KeyFingerprint: s.KeyFingerprint,
			Started:        s.Started,
		}
	}
	return out
}

func (a adminSessions) Kill(id string) bool { return a.srv.Kill(id) }
