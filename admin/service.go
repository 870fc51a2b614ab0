package admin

import (
	"context"

	"github.com/sluicehq/sluice/credentials"
)

// Service is everything the admin API needs from the rest of Sluice; it is
// the union of the small interfaces below. *credentials.Service implements
// it. Implementations must be safe for concurrent use; every method may block
// on the store. Errors are classified by statusFor: credentials.ErrNotFound,
// credentials.ErrConflict, *credentials.ValidationError and
// credentials.ErrUnauthenticated are shown to the client, anything else is
// logged and answered with a generic 500.
type Service interface {
	AccountReader
	AccountWriter
	CredentialReader
	CredentialWriter
	Feeds
	Audit
	Authenticator
	Readiness
}

// AccountReader reads customer accounts.
type AccountReader interface {
	Account(ctx context.Context, name string) (credentials.Account, error)
	Accounts(ctx context.Context, p credentials.Page) ([]credentials.Account, string, error)
}

// AccountWriter creates, changes and deletes customer accounts.
type AccountWriter interface {
	CreateAccount(ctx context.Context, a credentials.Account) (credentials.Account, error)
	UpdateAccount(ctx context.Context, name string, p credentials.AccountPatch) (credentials.Account, error)
	DeleteAccount(ctx context.Context, name string) error
}

// CredentialReader reads credentials of both scopes; account "" is the
// global (admin) scope. PublicKey returns the armored OpenPGP public key of an
// OpenPGP credential.
type CredentialReader interface {
	Credential(ctx context.Context, account, name string) (credentials.Credential, error)
	Credentials(ctx context.Context, account string, p credentials.Page) ([]credentials.Credential, string, error)
	PublicKey(ctx context.Context, account, name string) (string, error)
}

// CredentialWriter creates, changes and deletes credentials of both scopes;
// account "" is the global (admin) scope.
type CredentialWriter interface {
	CreateCredential(ctx context.Context, account string, s credentials.Spec) (credentials.Credential, error)
	UpdateCredential(ctx context.Context, account, name string, p credentials.CredentialPatch) (credentials.Credential, error)
	DeleteCredential(ctx context.Context, account, name string) error
}

// Feeds manages an account's feeds. PutFeed reports whether it created the
// feed (true) or replaced an existing one.
type Feeds interface {
	PutFeed(ctx context.Context, f credentials.Feed) (credentials.Feed, bool, error)
	Feed(ctx context.Context, account, name string) (credentials.Feed, error)
	Feeds(ctx context.Context, account string) ([]credentials.Feed, error)
	DeleteFeed(ctx context.Context, account, name string) error
}

// Audit records and lists audit events.
type Audit interface {
	RecordAudit(ctx context.Context, e credentials.AuditEvent) error
	Audit(ctx context.Context, f credentials.AuditFilter, p credentials.Page) ([]credentials.AuditEvent, string, error)
}

// Authenticator resolves admin bearer credentials. VerifyAPIToken and JWTKey
// return an error wrapping credentials.ErrUnauthenticated when the token or
// key id is unknown; JWTKey's key is a []byte for jwt-hs256 and an
// *rsa.PublicKey for jwt-rs256. MarkUsed records that a credential
// authenticated a request.
type Authenticator interface {
	VerifyAPIToken(ctx context.Context, token string) (credentials.Credential, error)
	JWTKey(ctx context.Context, kid string) (credentials.Credential, any, error)
	MarkUsed(ctx context.Context, c credentials.Credential) error
}

// Readiness reports whether the store answers.
type Readiness interface {
	Ready(ctx context.Context) error
}
