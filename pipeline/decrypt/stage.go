package decrypt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sluicehq/sluice/pipeline"
)

// Name is the stage's name in chains and metrics.
const Name = "pgp"

// outputEntry names the stage's only output in its ChildID.
const outputEntry = "plaintext"

// Keyring gives the stage an account's OpenPGP keys. The adapter over
// credentials implements it. Implementations must be safe for concurrent use;
// they may return the same (cached) entities to concurrent calls: the stage
// only reads them, and works on copies (see cloneEntities).
type Keyring interface {
	// DecryptionKeys returns the account's pgp-private-key credentials as
	// entities whose private keys are already unlocked (the stage holds no
	// passphrases); none is not an error.
	DecryptionKeys(ctx context.Context, account string) (openpgp.EntityList, error)
	// VerificationKeys returns the account's pgp-public-key credentials of
	// usage verify, which signatures are checked against; none is not an
	// error.
	VerificationKeys(ctx context.Context, account string) (openpgp.EntityList, error)
}

// Policy tells the stage what a feed demands of its files. The adapter over
// the feed settings implements it. Implementations must be safe for
// concurrent use.
type Policy interface {
	// RequireSignature reports whether the feed's files must be signed by
	// one of the account's verification keys (the feed's
	// require_signature). feed is "" when no feed's folder holds the upload.
	RequireSignature(ctx context.Context, account, feed string) (bool, error)
}

// Stage decrypts OpenPGP messages: the "pgp" stage of the pipeline. It is
// safe for concurrent use. Each Process call holds about 2.5 MiB of buffers
// whatever the size of the file, and while it reads the message it runs two
// goroutines of its own, which it waits for: one reads the decrypted data
// ahead (blob reads, AES, the MDC's SHA-1), one hashes and writes the content
// (SHA-256, the blob), while the calling goroutine inflates and parses.
type Stage struct {
	cfg    Config
	blobs  pipeline.Blobs
	keys   Keyring
	policy Policy
	logger *slog.Logger
}

var _ pipeline.Stage = (*Stage)(nil)

// New returns a Stage reading and writing blobs, with the accounts' keys from
// keys and the feeds' signature policy from policy.
func New(cfg Config, blobs pipeline.Blobs, keys Keyring, policy Policy, logger *slog.Logger) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if blobs == nil || keys == nil || policy == nil {
		return nil, errors.New("new decrypt stage: blobs, keyring and policy are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Stage{cfg: cfg, blobs: blobs, keys: keys, policy: policy, logger: logger.With("component", "decrypt")}, nil
}

// Name returns "pgp".
func (s *Stage) Name() string { return Name }

// Process decrypts in, binary or ASCII-armored, and returns the plaintext as
// one Object, written to the blob in.UploadID/ChildID(in.ID, "pgp",
// "plaintext") and committed only once the whole message checked out. Its
// Name is the file name inside the message when that is a plain base name,
// else in's name without .gpg, .pgp or .asc; Encrypted is set (unless the
// message was only signed) and Signer is the fingerprint of the verified
// signer.
//
// A message Sluice cannot or must not accept is a pipeline.Permanent error
// wrapping one of the package's sentinel errors; blob store, key and policy
// failures, and cancellation, are returned as they are, to be retried.
// Process blocks while it reads the message; cancelling ctx stops it at the
// next read of the blob.
func (s *Stage) Process(ctx context.Context, in pipeline.Object) ([]pipeline.Object, error) {
	if in.ID == "" || in.UploadID == "" || in.Key == "" {
		return nil, fmt.Errorf("decrypt %q: object without id, upload id or blob key", in.Name)
	}
	required, err := s.policy.RequireSignature(ctx, in.Account, in.Feed)
	if err != nil {
		return nil, fmt.Errorf("decrypt %q: signature policy of feed %q: %w", in.Name, in.Feed, err)
	}
	verify, err := s.verificationKeys(ctx, in.Account)
	if err != nil {
		return nil, fmt.Errorf("decrypt %q: %w", in.Name, err)
	}
	rc, err := s.blobs.Open(ctx, in.Key)
	if err != nil {
		return nil, fmt.Errorf("decrypt %q: %w", in.Name, err)
	}
	defer rc.Close()

	m := newMessage(s, in, rc)
	stop := context.AfterFunc(ctx, func() { m.src.cancel(context.Cause(ctx)) })
	defer stop()
	out, err := m.read(ctx, required, verify)
	if err != nil {
		return nil, fmt.Errorf("decrypt %q: %w", in.Name, err)
	}
	return []pipeline.Object{out}, nil
}

// pgpConfig is go-crypto's configuration for reading a message's content.
// go-crypto does not inflate: the stage inflates the leading compressed
// packet itself and go-crypto refuses any other (its limit is zero, see
// classify). Intended recipients are checked by the stage when the message
// was encrypted: go-crypto reads the decrypted content as an unencrypted
// message.
func pgpConfig(encrypted bool) *packet.Config {
	var noInflate int64
	return &packet.Config{
		MaxDecompressedMessageSize: &noInflate,
		CheckIntendedRecipients:    packet.BoolPointer(!encrypted),
	}
}
