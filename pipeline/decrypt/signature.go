package decrypt

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// signer checks the message's signatures once its content was read to the
// end and returns the fingerprint of the verified signer, "" when there is
// none. A signature by a key the account knows must verify; a signature is
// mandatory when required. go-crypto leaves SignatureError nil only with a
// verified signature, but SignedBy is checked too: a message signed by an
// unknown key must never count as signed.
func (m *message) signer(ctx context.Context, md *openpgp.MessageDetails, required bool) (string, error) {
	if !md.IsSigned {
		if required {
			return "", reject(ErrSignatureRequired, "the feed requires signed files and this one is not signed: "+
				"sign it with a key registered for the account (gpg --sign --encrypt)")
		}
		return "", nil
	}
	if md.SignatureError == nil && md.SignedBy != nil && md.Signature != nil {
		if err := m.checkRecipients(md.Signature); err != nil {
			return "", err
		}
		return strings.ToUpper(hex.EncodeToString(md.SignedBy.Entity.PrimaryKey.Fingerprint)), nil
	}
	var issuers []string
	known := false
	for _, c := range md.SignatureCandidates {
		issuers = append(issuers, keyID(c.IssuerKeyId))
		known = known || c.SignedByEntity != nil
	}
	switch {
	case known:
		cause := "it does not verify"
		if md.SignatureError != nil {
			cause = pgpText(md.SignatureError)
		}
		return "", reject(ErrBadSignature, "the signature by key %s is not valid (%s): the file was changed after it was signed, or signed wrongly", strings.Join(issuers, ", "), cause)
	case required:
		return "", reject(ErrUnknownSigner, "the feed requires signed files and this one is signed by key %s, which is not among the account's signature keys: "+
			"ask the Sluice administrator to add the signer's public key (a pgp-public-key credential of usage verify)", strings.Join(issuers, ", "))
	}
	m.stage.logger.InfoContext(ctx, "signature by an unknown key not verified", "upload", m.in.UploadID, "file", m.in.ID, "issuers", issuers)
	return "", nil
}

// checkRecipients checks the intended recipients a signature of an encrypted
// message names, if any: the key that decrypted it must be among them, or
// the signed message was re-encrypted to Sluice by someone else.
func (m *message) checkRecipients(sig *packet.Signature) error {
	if m.key == nil || len(sig.IntendedRecipients) == 0 {
		return nil
	}
	for _, r := range sig.IntendedRecipients {
		if bytes.Equal(r.Fingerprint, m.key.Entity.PrimaryKey.Fingerprint) {
			return nil
		}
	}
	return reject(ErrBadSignature, "the signature names other intended recipients than this account's key: the signed file was encrypted again by someone else")
}
