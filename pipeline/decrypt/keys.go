package decrypt

import (
	"context"
	"fmt"
	"slices"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/sluicehq/sluice/credentials"
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
// wrappers (credentials.CopyEntity): go-crypto caches whether each
// self-signature verified in its wrapper, the first time it checks it, so
// Process calls sharing the entities a Keyring caches would race. The stage
// calls go-crypto on the copies only, never on the Keyring's entities.
func cloneEntities(list openpgp.EntityList) openpgp.EntityList {
	out := make(openpgp.EntityList, 0, len(list))
	for _, e := range list {
		if e != nil {
			out = append(out, credentials.CopyEntity(e))
		}
	}
	return out
}
