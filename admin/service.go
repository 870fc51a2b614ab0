package admin

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/pipeline"
)

// Service is what the admin API needs from the credential store; it is the
// union of the small interfaces below. *credentials.Service implements it.
// Implementations must be safe for concurrent use; every method may block on
// the store. Errors are classified by statusFor: credentials.ErrNotFound,
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

// Uploads reads the uploads the pipeline's intake recorded.
// *pipeline.Intake implements it. Upload returns an error wrapping
// credentials.ErrNotFound for an unknown id; Uploads returns a
// *credentials.ValidationError for an unknown status or a bad cursor. Both
// must be safe for concurrent use and may block on the store.
type Uploads interface {
	Upload(ctx context.Context, id string) (pipeline.Upload, error)
	Uploads(ctx context.Context, f pipeline.UploadFilter, p credentials.Page) ([]pipeline.Upload, string, error)
	// UploadReport and UploadErrors return an upload's report and errors
	// file, FileContent a ready file's content; what does not exist (yet)
	// wraps credentials.ErrNotFound.
	UploadReport(ctx context.Context, id string) (pipeline.Report, error)
	UploadErrors(ctx context.Context, id string) (io.ReadCloser, error)
	FileContent(ctx context.Context, id string) (pipeline.File, io.ReadCloser, error)
	// Retry runs a rejected or failed upload again; any other state wraps
	// credentials.ErrConflict.
	Retry(ctx context.Context, id string) (pipeline.Upload, error)
}

// Defender lists and lifts the SFTP brute-force defender's address bans and
// account lockouts. *defender.Defender implements it. Lift and Unlock report
// whether the address was banned or the account locked. Its methods must be
// safe for concurrent use and must not block.
type Defender interface {
	Bans() []defender.Ban
	Lift(addr netip.Addr) bool
	Lockouts() []defender.Lockout
	Unlock(account string) bool
}

// Sessions lists and ends the SFTP server's authenticated sessions. Kill
// ends session id at once and reports whether it existed. Its methods must
// be safe for concurrent use and must not block for long.
type Sessions interface {
	Sessions() []Session
	Kill(id string) bool
}

// Session describes one authenticated SFTP session, as the admin API shows
// it. It is a plain value: the SFTP server's own type converts to it where
// the two are wired together.
type Session struct {
	ID             string         // also the "session" of log lines
	Account        string         // account name
	Remote         netip.AddrPort // client address
	ClientVersion  string         // e.g. "SSH-2.0-OpenSSH_9.2p1", sanitized
	Method         string         // "password", "publickey" or "publickey,password"
	KeyFingerprint string         // SHA256:… of a key login, else ""
	Started        time.Time      // when the login succeeded
}
