package decrypt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/pipeline"
)

// The causes a message is rejected for. Process returns them wrapped in
// pipeline.Permanent, with a detail the customer can act on; test them with
// errors.Is.
var (
	// ErrNotOpenPGP: the file is neither a binary OpenPGP message nor an
	// ASCII-armored one ("-----BEGIN PGP MESSAGE-----"), or its armor is
	// corrupt.
	ErrNotOpenPGP = errors.New("not an OpenPGP message")
	// ErrNoMatchingKey: none of the account's keys can decrypt the message.
	// The error is a *NoKeyError listing the key ids on both sides.
	ErrNoMatchingKey = errors.New("no matching decryption key")
	// ErrPassphraseOnly: the message is encrypted with a passphrase only
	// (gpg --symmetric); Sluice holds no passphrases for messages.
	ErrPassphraseOnly = errors.New("encrypted with a passphrase only")
	// ErrNoIntegrity: the encrypted data has no integrity protection (a
	// legacy Symmetrically Encrypted Data packet, without MDC).
	ErrNoIntegrity = errors.New("no integrity protection")
	// ErrIntegrity: the integrity check of the encrypted data failed: the
	// file was modified or truncated after it was encrypted.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrUnsupported: a packet version, algorithm or structure Sluice does
	// not read.
	ErrUnsupported = errors.New("unsupported OpenPGP message")
	// ErrMalformed: the message's packets are invalid (in data that passed
	// its integrity check, or in an unencrypted message).
	ErrMalformed = errors.New("malformed OpenPGP message")
	// ErrBadSignature: a signature by one of the account's verification keys
	// does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrSignatureRequired: the feed requires a signature and the message
	// has none.
	ErrSignatureRequired = errors.New("signature required")
	// ErrUnknownSigner: the feed requires a signature and the message is
	// signed only by keys the account does not know.
	ErrUnknownSigner = errors.New("unknown signer")
	// ErrTooLarge: the plaintext exceeds pipeline.decrypt.max_output_bytes.
	ErrTooLarge = errors.New("decrypted content too large")
	// ErrExpansion: the compressed data expands more than
	// pipeline.decrypt.max_expansion_ratio times (a compression bomb).
	ErrExpansion = errors.New("compression ratio too high")
)

// NoKeyError is the ErrNoMatchingKey error: it names the keys the message is
// encrypted to and the account's decryption keys.
type NoKeyError struct {
	// Recipients are the key ids the message is encrypted to, as 16
	// upper-case hex digits, or "hidden" for a hidden recipient.
	Recipients []string
	// Unsupported counts the recipients of versions or algorithms Sluice
	// does not read.
	Unsupported int
	// AccountKeys are the key ids of the account's decryption (sub)keys.
	AccountKeys []string
	// Passphrase reports that the message can also be opened with a
	// passphrase, which Sluice does not hold.
	Passphrase bool
}

// Error says which keys the message is for and which the account has.
func (e *NoKeyError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoMatchingKey.Error())
	b.WriteString(": ")
	var to []string
	hidden := 0
	for _, r := range e.Recipients {
		if r == hiddenRecipient {
			hidden++
		} else {
			to = append(to, r)
		}
	}
	switch {
	case len(to) > 0:
		b.WriteString("the file is encrypted to " + keys(to))
	case hidden > 0:
		b.WriteString("the file is encrypted to a hidden recipient")
	default:
		b.WriteString("the file names no recipient key Sluice can use")
	}
	if len(to) > 0 && hidden > 0 {
		b.WriteString(" and a hidden recipient")
	}
	if e.Unsupported > 0 {
		fmt.Fprintf(&b, " (and %d of a version or algorithm Sluice does not read)", e.Unsupported)
	}
	if len(e.AccountKeys) == 0 {
		b.WriteString(", but this account has no OpenPGP decryption key: ask the Sluice administrator for one and encrypt to its public key")
	} else {
		fmt.Fprintf(&b, ", not to this account's %s: encrypt it to the account's public key", keys(e.AccountKeys))
	}
	if e.Passphrase {
		b.WriteString(" (it can also be opened with a passphrase, but Sluice holds no passphrases)")
	}
	return b.String()
}

// keys lists key ids: "key A" or "keys A, B".
func keys(ids []string) string {
	if len(ids) == 1 {
		return "key " + ids[0]
	}
	return "keys " + strings.Join(ids, ", ")
}

// Is reports whether target is ErrNoMatchingKey.
func (e *NoKeyError) Is(target error) bool { return target == ErrNoMatchingKey }

// reject returns a permanent error wrapping cause, with a detail.
func reject(cause error, format string, args ...any) error {
	return pipeline.Permanent(fmt.Errorf("%w: %s", cause, fmt.Sprintf(format, args...)))
}

// truncated is the error of a message that ends early.
func truncated() error {
	return reject(ErrIntegrity, "the file is truncated: it ends before its encrypted data does; upload it again")
}

// modified is the error of encrypted data whose integrity check failed. It
// says nothing more: the details of data that failed its check would be an
// oracle on the plaintext or the keys.
func modified() error {
	return reject(ErrIntegrity, "the file was modified or damaged after it was encrypted; upload it again")
}
