package decrypt

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// hiddenRecipient stands for the key id of a hidden recipient (gpg
// --hidden-recipient, --throw-keyids).
const hiddenRecipient = "hidden"

// keyID formats a key id as GnuPG shows it.
func keyID(id uint64) string {
	if id == 0 {
		return hiddenRecipient
	}
	return fmt.Sprintf("%016X", id)
}

// accountKeyIDs lists the ids of the keys that can decrypt among keys.
func accountKeyIDs(keys openpgp.EntityList) []string {
	var ids []string
	for _, e := range keys {
		for _, k := range e.DecryptionKeys(0, time.Time{}, nil) {
			if id := keyID(k.PublicKey.KeyId); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// decryptionKeys fetches copies of the account's decryption keys.
func (s *Stage) decryptionKeys(ctx context.Context, account string) (openpgp.EntityList, error) {
	keys, err := s.keys.DecryptionKeys(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("decryption keys of account %q: %w", account, err)
	}
	return cloneEntities(keys), nil
}

// verificationKeys fetches copies of the account's verification keys.
func (s *Stage) verificationKeys(ctx context.Context, account string) (openpgp.EntityList, error) {
	keys, err := s.keys.VerificationKeys(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("verification keys of account %q: %w", account, err)
	}
	return cloneEntities(keys), nil
}

// cloneEntities copies the structure of the entities with fresh signature
// wrappers. go-crypto caches whether each self-signature verified in its
// wrapper, the first time it checks it: Process calls sharing the entities a
// Keyring caches would race. Keys and signature packets are shared; they are
// only read. The stage calls go-crypto on the copies only, never on the
// Keyring's entities.
func cloneEntities(list openpgp.EntityList) openpgp.EntityList {
	out := make(openpgp.EntityList, 0, len(list))
	for _, e := range list {
		if e == nil {
			continue
		}
		c := *e
		c.Revocations = cloneSigs(e.Revocations)
		c.DirectSignatures = cloneSigs(e.DirectSignatures)
		c.Identities = make(map[string]*openpgp.Identity, len(e.Identities))
		for name, id := range e.Identities {
			ci := *id
			ci.Primary = &c
			ci.SelfCertifications = cloneSigs(id.SelfCertifications)
			ci.OtherCertifications = cloneSigs(id.OtherCertifications)
			ci.Revocations = cloneSigs(id.Revocations)
			c.Identities[name] = &ci
		}
		c.Subkeys = make([]openpgp.Subkey, len(e.Subkeys))
		for i, sk := range e.Subkeys {
			sk.Primary = &c
			sk.Bindings = cloneSigs(sk.Bindings)
			sk.Revocations = cloneSigs(sk.Revocations)
			c.Subkeys[i] = sk
		}
		out = append(out, &c)
	}
	return out
}

// cloneSigs copies signature wrappers; a verdict already cached is kept.
func cloneSigs(sigs []*packet.VerifiableSignature) []*packet.VerifiableSignature {
	if sigs == nil {
		return nil
	}
	out := make([]*packet.VerifiableSignature, len(sigs))
	for i, s := range sigs {
		c := *s
		out[i] = &c
	}
	return out
}
