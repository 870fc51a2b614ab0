package credentials

import "log/slog"

// Secret is a secret string (a password, token, HMAC secret, passphrase or
// armored private key) as received from an admin. It redacts itself when
// formatted, logged or marshalled to JSON, so it cannot leak by accident; the
// value is read only by an explicit conversion, string(s). It unmarshals from
// a JSON string as usual.
type Secret string

const redacted = "[redacted]"

// String returns a fixed placeholder, never the secret.
func (s Secret) String() string { return redacted }

// GoString returns a fixed placeholder, never the secret.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer with a fixed placeholder.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes a fixed placeholder, never the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
