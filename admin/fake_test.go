package admin

import (
	"context"
	"crypto/rsa"
	"log/slog"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

// fakeService is a hand-written fake of Service for the tests that do not
// need the real one (auth, problems, lifecycle). Methods it does not
// implement are those of the nil embedded Service: calling one panics, which
// the server recovers and answers with a 500.
type fakeService struct {
	Service

	tokens map[string]credentials.Credential // api token -> credential
	hs     map[string][]byte                 // kid -> HMAC secret
	rs     map[string]*rsa.PublicKey         // kid -> RSA public key
	ready  error

	mu     sync.Mutex
	used   []string
	events []credentials.AuditEvent
}

func (f *fakeService) VerifyAPIToken(_ context.Context, token string) (credentials.Credential, error) {
	c, ok := f.tokens[token]
	if !ok {
		return credentials.Credential{}, credentials.ErrUnauthenticated
	}
	return c, nil
}

func (f *fakeService) JWTKey(_ context.Context, kid string) (credentials.Credential, any, error) {
	if k, ok := f.hs[kid]; ok {
		return credentials.Credential{Name: kid, Type: credentials.TypeJWTHS256}, k, nil
	}
	if k, ok := f.rs[kid]; ok {
		return credentials.Credential{Name: kid, Type: credentials.TypeJWTRS256}, k, nil
	}
	return credentials.Credential{}, nil, credentials.ErrUnauthenticated
}

func (f *fakeService) MarkUsed(_ context.Context, c credentials.Credential) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used = append(f.used, c.Name)
	return nil
}

func (f *fakeService) Accounts(context.Context, credentials.Page) ([]credentials.Account, string, error) {
	return nil, "", nil
}

func (f *fakeService) Ready(context.Context) error { return f.ready }

func (f *fakeService) RecordAudit(_ context.Context, e credentials.AuditEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

// newFakeServer returns a Server with the default config over svc.
func newFakeServer(t *testing.T, svc Service) *Server {
	t.Helper()
	s, err := New(DefaultConfig(), Deps{Service: svc}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return s
}
