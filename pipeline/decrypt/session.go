package decrypt

import (
	"errors"
	"fmt"
	"io"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sluicehq/sluice/pipeline"
)

// keyPackets are the packets of an encrypted message before its data.
type keyPackets struct {
	pkesks      []*packet.EncryptedKey
	passphrase  bool // a passphrase-encrypted session key is present
	unsupported int  // key packets of versions or algorithms go-crypto cannot read
	data        packet.EncryptedDataPacket
}

// readKeyPackets reads the session key packets and the header of the
// encrypted data that follows them.
func readKeyPackets(r io.Reader) (keyPackets, error) {
	var k keyPackets
	for range maxKeyPackets {
		p, err := packet.Read(r)
		if err != nil {
			var (
				unknown     pgperrors.UnknownPacketTypeError
				unsupported pgperrors.UnsupportedError
			)
			switch {
			case errors.As(err, &unknown):
				continue // a non-critical packet type: ignored, as RFC 9580 says
			case errors.As(err, &unsupported):
				switch p.(type) {
				case *packet.EncryptedKey, *packet.SymmetricKeyEncrypted:
					k.unsupported++
					continue
				}
			case err == io.EOF:
				return k, truncated()
			}
			return k, err
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			k.pkesks = append(k.pkesks, p)
		case *packet.SymmetricKeyEncrypted:
			k.passphrase = true
		case *packet.SymmetricallyEncrypted:
			if !p.IntegrityProtected {
				return k, reject(ErrNoIntegrity, "the file is encrypted in a legacy format without integrity protection "+
					"(no modification detection code, as made by gpg --rfc2440 or PGP 6), so tampering could not be detected: "+
					"encrypt it again with a current OpenPGP tool (GnuPG 2.2 or later protects it by default)")
			}
			k.data = p
			return k, nil
		case *packet.AEADEncrypted:
			k.data = p
			return k, nil
		case *packet.Marker, packet.Padding:
		default:
			return k, reject(ErrMalformed, "a %s packet among the session key packets", packetName(p))
		}
	}
	return k, reject(ErrUnsupported, "more than %d session key packets", maxKeyPackets)
}

// open decrypts the session key with one of keys and returns the decrypted
// data and the key used.
func (k keyPackets) open(keys openpgp.EntityList) (io.ReadCloser, *openpgp.Key, error) {
	var locked []string
	attempts, failed := 0, false
	for _, p := range k.pkesks {
		for _, e := range keys.EntitiesById(p.KeyId) { // key id 0, a hidden recipient, matches every key
			for _, key := range e.DecryptionKeys(p.KeyId, time.Time{}, nil) {
				switch {
				case p.KeyId != 0 && key.PublicKey.KeyId != p.KeyId,
					key.PrivateKey == nil, key.PrivateKey.Dummy(), key.PublicKey.PubKeyAlgo != p.Algo:
					continue
				case key.PrivateKey.Encrypted:
					locked = append(locked, keyID(key.PublicKey.KeyId))
					continue
				case attempts == maxKeyAttempts:
					return nil, nil, reject(ErrUnsupported, "more than %d session key packets for this account's keys", maxKeyAttempts)
				}
				attempts++
				if err := p.Decrypt(key.PrivateKey, nil); err != nil {
					// A session key for one of the account's keys that does
					// not decrypt is reported as modified data: telling it
					// from data that does not check would be a padding
					// oracle on the account's RSA keys. A hidden
					// recipient's is most likely someone else's.
					failed = failed || p.KeyId != 0
					continue
				}
				dec, err := decryptData(k.data, p.CipherFunc, p.Key)
				if err != nil {
					return nil, nil, err
				}
				return dec, &key, nil
			}
		}
	}
	switch {
	case failed:
		return nil, nil, modified()
	case len(locked) > 0:
		return nil, nil, internal{fmt.Errorf("decryption key %s is locked: the keyring must return unlocked keys", locked[0])}
	case len(k.pkesks) == 0 && k.unsupported == 0 && k.passphrase:
		return nil, nil, reject(ErrPassphraseOnly, "the file is encrypted with a passphrase only (gpg --symmetric), and Sluice holds no passphrases: encrypt it to the account's public key instead")
	}
	e := &NoKeyError{Passphrase: k.passphrase, AccountKeys: accountKeyIDs(keys)}
	for _, p := range k.pkesks {
		e.Recipients = append(e.Recipients, keyID(p.KeyId))
	}
	e.Unsupported = k.unsupported
	return nil, nil, pipeline.Permanent(e)
}

// decryptData returns the decrypted data of the encrypted packet, which
// checks its integrity as it ends (see mdcReader).
func decryptData(data packet.EncryptedDataPacket, c packet.CipherFunction, key []byte) (io.ReadCloser, error) {
	if se, ok := data.(*packet.SymmetricallyEncrypted); ok && se.Version == 1 {
		switch c {
		case packet.CipherAES128, packet.CipherAES192, packet.CipherAES256:
			if len(key) != c.KeySize() {
				return nil, modified()
			}
			return newMDCReader(se.Contents, key)
		}
	}
	dec, err := data.Decrypt(c, key)
	if err != nil {
		var unsupported pgperrors.UnsupportedError
		switch {
		case errors.As(err, &unsupported):
			return nil, reject(ErrUnsupported, "%s", string(unsupported))
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return nil, truncated()
		}
		return nil, modified()
	}
	return dec, nil
}

// packetName names a parsed packet for error messages.
func packetName(p packet.Packet) string {
	switch p.(type) {
	case *packet.Compressed:
		return tagName(tagCompressed)
	case *packet.LiteralData:
		return tagName(tagLiteral)
	case *packet.OnePassSignature:
		return tagName(tagOPS)
	case *packet.Signature:
		return tagName(tagSignature)
	case *packet.PublicKey:
		return "public key"
	case *packet.PrivateKey:
		return "secret key"
	case *packet.UserId:
		return "user id"
	}
	return fmt.Sprintf("%T", p)
}
