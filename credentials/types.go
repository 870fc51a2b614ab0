package credentials

import "time"

// Type is the type of a credential. It is fixed when the credential is saved.
type Type string

// The credential types. Account-scoped types belong to one account; global
// types (api-token, jwt-hs256, jwt-rs256) authenticate admins.
const (
	TypePassword      Type = "password"
	TypeSSHPublicKey  Type = "ssh-public-key"
	TypeZIPPassword   Type = "zip-password"
	TypePGPPrivateKey Type = "pgp-private-key"
	TypePGPPublicKey  Type = "pgp-public-key"
	TypeAPIToken      Type = "api-token"
	TypeJWTHS256      Type = "jwt-hs256"
	TypeJWTRS256      Type = "jwt-rs256"
)

// AccountTypes and GlobalTypes list the credential types of each scope.
var (
	AccountTypes = []Type{TypePassword, TypeSSHPublicKey, TypeZIPPassword, TypePGPPrivateKey, TypePGPPublicKey}
	GlobalTypes  = []Type{TypeAPIToken, TypeJWTHS256, TypeJWTRS256}
)

// Global reports whether credentials of type t are global (admin) credentials.
func (t Type) Global() bool {
	for _, g := range GlobalTypes {
		if t == g {
			return true
		}
	}
	return false
}

// Known reports whether t is one of the credential types.
func (t Type) Known() bool {
	if t.Global() {
		return true
	}
	for _, a := range AccountTypes {
		if t == a {
			return true
		}
	}
	return false
}

// Account is a customer account: an SFTP login and the owner of credentials
// and feeds. Name is its identity and never changes.
type Account struct {
	Name         string   `json:"name"`
	QuotaBytes   int64    `json:"quota_bytes"`   // 0: unlimited
	QuotaFiles   int64    `json:"quota_files"`   // 0: unlimited
	MaxFileSize  int64    `json:"max_file_size"` // 0: unlimited
	AllowedCIDRs []string `json:"allowed_cidrs"` // empty: any source address
	Disabled     bool     `json:"disabled"`
	// RequireKeyAndPassword makes SFTP logins present an SSH key and then a
	// password, as OpenSSH's AuthenticationMethods publickey,password.
	RequireKeyAndPassword bool      `json:"require_key_and_password"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

// Credential is a stored credential. Only non-secret fields are ever exposed:
// SecretHash and Sealed never leave this package's callers' process, and the
// admin API renders credentials through its own response type.
type Credential struct {
	ID          string     // sortable unique id (ULID)
	Account     string     // owning account; "" for global credentials
	Name        string     // unique within its scope, never changes
	Type        Type       // never changes
	Fingerprint string     // SSH "SHA256:…", OpenPGP fingerprint, token prefix, key digest
	Metadata    Metadata   // non-secret, type-specific details
	PublicData  string     // non-secret material: authorized_keys line, armored public key, PEM public key
	SecretHash  string     // argon2id PHC string (password) or hex SHA-256 (api-token); "" otherwise
	Sealed      []byte     // AES-256-GCM ciphertext of the secret material; nil if none
	KeyID       string     // id of the master key that sealed Sealed
	Description string     // free text, mutable
	CreatedAt   time.Time  //
	UpdatedAt   time.Time  //
	LastUsedAt  *time.Time // last time it authenticated something
	ExpiresAt   *time.Time // optional; expired credentials do not authenticate
}

// Metadata holds the non-secret, type-specific details of a credential that
// API responses show.
type Metadata struct {
	Algorithm   string   `json:"algorithm,omitempty"`    // e.g. ssh-ed25519, rsa, ed25519, cv25519
	Bits        int      `json:"bits,omitempty"`         // key size where it means something
	Comment     string   `json:"comment,omitempty"`      // authorized_keys comment
	KeyIDs      []string `json:"key_ids,omitempty"`      // OpenPGP key ids (primary and subkeys), hex
	UserIDs     []string `json:"user_ids,omitempty"`     // OpenPGP user ids
	Usage       string   `json:"usage,omitempty"`        // pgp-public-key: verify | encrypt
	TokenPrefix string   `json:"token_prefix,omitempty"` // api-token: the first characters
	Generated   bool     `json:"generated,omitempty"`    // pgp-private-key made by Sluice
}

// Expired reports whether c has an expiry at or before now.
func (c Credential) Expired(now time.Time) bool {
	return c.ExpiresAt != nil && !now.Before(*c.ExpiresAt)
}

// Spec is the input that creates a credential: the union of the fields of
// every type. Fields that do not apply to Type must be empty.
type Spec struct {
	Name        string     `json:"name"`
	Type        Type       `json:"type"`
	Password    Secret     `json:"password,omitempty"`    // password, zip-password
	PublicKey   string     `json:"public_key,omitempty"`  // ssh-public-key (authorized_keys line), jwt-rs256 (PEM)
	ArmoredKey  Secret     `json:"armored_key,omitempty"` // pgp-private-key, pgp-public-key
	Passphrase  Secret     `json:"passphrase,omitempty"`  // pgp-private-key
	Generate    bool       `json:"generate,omitempty"`    // pgp-private-key
	Algorithm   string     `json:"algorithm,omitempty"`   // pgp-private-key with generate: curve25519 (default) | rsa-3072
	Usage       string     `json:"usage,omitempty"`       // pgp-public-key: verify | encrypt
	Token       Secret     `json:"token,omitempty"`       // api-token
	Secret      Secret     `json:"secret,omitempty"`      // jwt-hs256
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`  // ssh-public-key, any type
	Description string     `json:"description,omitempty"` //
}

// CredentialPatch holds the mutable metadata of a credential. A nil field is
// left unchanged. Name and Type, when set, must equal the stored ones: a
// credential is never renamed and never changes type.
type CredentialPatch struct {
	Name        *string    `json:"name,omitempty"`
	Type        *Type      `json:"type,omitempty"`
	Description *string    `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Usage       *string    `json:"usage,omitempty"`
}

// AccountPatch holds the mutable fields of an account; nil leaves a field as is.
type AccountPatch struct {
	Name                  *string   `json:"name,omitempty"`
	QuotaBytes            *int64    `json:"quota_bytes,omitempty"`
	QuotaFiles            *int64    `json:"quota_files,omitempty"`
	MaxFileSize           *int64    `json:"max_file_size,omitempty"`
	AllowedCIDRs          *[]string `json:"allowed_cidrs,omitempty"`
	Disabled              *bool     `json:"disabled,omitempty"`
	RequireKeyAndPassword *bool     `json:"require_key_and_password,omitempty"`
}

// Feed routes an account's uploads below Path to a CSV schema and policy.
// (Account, Name) is its identity. It marshals to and from JSON with
// ExpectedEvery as the "expected_every" duration string.
type Feed struct {
	Account           string    `json:"account"`
	Name              string    `json:"name"`
	Path              string    `json:"path"`               // absolute folder in the account's tree, "/" is the default feed
	OnError           string    `json:"on_error"`           // reject_file | skip_rows
	MaxErrorRate      float64   `json:"max_error_rate"`     // 0..1, with skip_rows
	RequireEncryption bool      `json:"require_encryption"` //
	RequireSignature  bool      `json:"require_signature"`  //
	AllowZipCrypto    bool      `json:"allow_zipcrypto"`    // accept legacy ZipCrypto archives
	Schema            Schema    `json:"schema"`             //
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// ExpectedEvery is how often the feed is expected to receive a file:
	// operators are alerted when it stays silent for longer. 0: no
	// expectation; otherwise between MinExpectedEvery and MaxExpectedEvery,
	// in whole seconds. JSON carries it as a Go duration string ("24h",
	// "" for none): see Feed.MarshalJSON.
	ExpectedEvery time.Duration `json:"-"`
}

// Schema describes the CSV a feed accepts. The first row of every file is
// its header, matched against Columns case-insensitively.
type Schema struct {
	Delimiter         string   `json:"delimiter"`           // auto | , | ; | \t | "|"
	Encoding          string   `json:"encoding"`            // utf-8 | windows-1252 | latin-1
	AllowExtraColumns bool     `json:"allow_extra_columns"` // unknown header columns are not an error
	Columns           []Column `json:"columns"`
}

// Column describes one CSV column.
type Column struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // string integer decimal date datetime boolean email enum regex
	Required bool     `json:"required,omitempty"`
	Unique   bool     `json:"unique,omitempty"`
	Format   string   `json:"format,omitempty"`  // date/datetime: Go layout
	Values   []string `json:"values,omitempty"`  // enum
	Pattern  string   `json:"pattern,omitempty"` // regex
	MaxLen   int      `json:"max_length,omitempty"`
}

// AuditEvent records one change made through the admin API (or, later, one
// authentication attempt). It never contains a secret.
type AuditEvent struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`  // credential name of the admin, or "system"
	Action    string    `json:"action"` // e.g. "credential.create"
	Target    string    `json:"target"` // e.g. "accounts/acme/credentials/login"
	Remote    string    `json:"remote"` // remote address
	RequestID string    `json:"request_id"`
	Result    string    `json:"result"`           // ok, or a short failure class
	Detail    string    `json:"detail,omitempty"` // e.g. login method and key fingerprint; never a secret
}

// AuditFilter selects audit events; empty fields match everything.
type AuditFilter struct {
	Actor  string
	Action string
	Target string // prefix
}

// Page selects one page of a list: at most Limit items after the cursor After
// (an opaque value from a previous page's Next, "" for the first page).
type Page struct {
	After string
	Limit int
}
