// Package decrypt is the pipeline's OpenPGP stage ("pgp"): it decrypts an
// upload with the account's private keys, verifies its signature against
// the account's verification keys when there is one (and insists on one when
// the feed requires it) and writes the plaintext as a new blob for the next
// stage.
//
// Plaintext is streamed, never buffered whole, and committed only after a
// clean end of the message: after the integrity check of the encrypted data
// (the MDC of SEIPD v1, which comes last, or the AEAD tags of SEIPD v2)
// passed and the signature, if any, verified. Tampered or truncated plaintext
// never reaches the next stage, and no error says anything about the
// structure of plaintext that failed its integrity check.
//
// Messages are parsed with github.com/ProtonMail/go-crypto/openpgp/v2: the
// stage reads the key packets itself (to name the recipients in its errors),
// decrypts the session key with the account's keys, decrypts SEIPD v1 with
// AES through a streaming CFB reader of its own (go-crypto's byte-at-a-time
// CFB is 2-3 times slower; other ciphers and AEAD use go-crypto's), and
// inflates a leading compressed packet itself, with its own size and ratio
// limits and klauspost/compress's faster inflater; go-crypto's ReadMessage
// then reads the literal data and checks the signatures. go-crypto's own
// ReadMessage cannot be used on the encrypted message: it reports every
// error inside decrypted data, a failed MDC and a compression bomb alike, as
// "parsing error". Data without integrity protection, passphrase-only
// messages and compressed data nested in compressed data are refused.
//
// Every error caused by the input is pipeline.Permanent and wraps one of the
// sentinel errors of errors.go, with a message the customer can act on;
// nothing secret appears in it. Failures to read the blob store or the keys
// are plain errors, for the runner to retry.
//
// decrypt imports pipeline (Object, Blobs, Permanent) and go-crypto; it must
// not import NATS, the store, credentials or the other stages: keys and the
// feed's policy come through the small Keyring and Policy interfaces.
package decrypt
