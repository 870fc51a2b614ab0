package credentials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// masterKeyLen is the size of an AES-256 key.
const masterKeyLen = 32

// MasterKey is an AES-256 key that seals secrets at rest. ID names it without
// revealing it: "k" followed by the first 16 hex digits of
// SHA-256("sluice master key id" || key). A MasterKey prints, formats and logs
// as its ID only; Base64 is the one way to read the key itself.
type MasterKey struct {
	ID  string
	key []byte
}

func newMasterKey(key []byte) MasterKey {
	sum := sha256.Sum256(append([]byte("sluice master key id"), key...))
	return MasterKey{ID: "k" + hex.EncodeToString(sum[:])[:16], key: key}
}

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() (MasterKey, error) {
	key := make([]byte, masterKeyLen)
	if _, err := rand.Read(key); err != nil {
		return MasterKey{}, fmt.Errorf("generate master key: %w", err)
	}
	return newMasterKey(key), nil
}

// ParseMasterKey decodes a master key from standard base64 (with padding) of
// exactly 32 bytes; surrounding white space is ignored. Its errors never
// contain the input.
func ParseMasterKey(b64 string) (MasterKey, error) {
	b64 = strings.TrimSpace(b64)
	if raw, err := hex.DecodeString(b64); err == nil && len(raw) == masterKeyLen {
		return MasterKey{}, errors.New("parse master key: looks like hex; want standard base64 of 32 bytes (e.g. `openssl rand -base64 32`)")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return MasterKey{}, errors.New("parse master key: not valid standard base64 (want 44 characters ending in '=')")
	}
	if len(key) != masterKeyLen {
		return MasterKey{}, fmt.Errorf("parse master key: decodes to %d bytes, want %d", len(key), masterKeyLen)
	}
	return newMasterKey(key), nil
}

// Base64 returns the key in standard base64, the form ParseMasterKey reads
// and key files hold. It is the only method that reveals the key.
func (k MasterKey) Base64() string {
	if k.key == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.key)
}

// String returns the key's ID.
func (k MasterKey) String() string { return "master key " + k.ID }

// GoString returns the key's ID, so %#v does not print the key.
func (k MasterKey) GoString() string { return fmt.Sprintf("credentials.MasterKey{ID:%q}", k.ID) }

// Format implements fmt.Formatter so that no verb (%d, %x, %+v, …) prints the
// key bytes: every verb prints String, and %#v prints GoString.
func (k MasterKey) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(k.GoString()))
		return
	}
	_, _ = f.Write([]byte(k.String()))
}

// LogValue implements slog.LogValuer with the key's ID.
func (k MasterKey) LogValue() slog.Value { return slog.StringValue(k.ID) }

// ErrUnknownKey reports that a sealed secret names a master key that is not
// loaded: the key was removed from the key file (or the environment) while
// secrets sealed with it remain.
var ErrUnknownKey = errors.New("unknown master key")

// ErrDecrypt reports that a sealed secret failed authentication: it was
// tampered with or truncated, or it is being opened with associated data
// other than the data it was sealed with. Errors wrapping it carry no
// plaintext, ciphertext or key.
var ErrDecrypt = errors.New("sealed secret failed authentication (tampered or truncated, or wrong associated data)")

// Vault seals and opens secrets with AES-256-GCM under a set of master keys:
// the primary seals, and every loaded key opens what it sealed, so keys can
// be rotated by making a new key primary and keeping the old ones until
// everything is resealed. A Vault is immutable and safe for concurrent use.
type Vault struct {
	primary string
	aeads   map[string]cipher.AEAD
	ids     []string
}

// NewVault returns a Vault that seals with primary and opens with primary and
// every key in older. Keys repeated (same ID) are loaded once.
func NewVault(primary MasterKey, older ...MasterKey) (*Vault, error) {
	v := &Vault{primary: primary.ID, aeads: make(map[string]cipher.AEAD)}
	for i, k := range append([]MasterKey{primary}, older...) {
		if len(k.key) != masterKeyLen {
			return nil, fmt.Errorf("new vault: master key %d is not set", i)
		}
		if _, ok := v.aeads[k.ID]; ok {
			continue
		}
		block, err := aes.NewCipher(k.key)
		if err != nil {
			return nil, fmt.Errorf("new vault: master key %s: %w", k.ID, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("new vault: master key %s: %w", k.ID, err)
		}
		v.aeads[k.ID] = aead
		v.ids = append(v.ids, k.ID)
	}
	return v, nil
}

// PrimaryID returns the ID of the key that Seal uses.
func (v *Vault) PrimaryID() string { return v.primary }

// KeyIDs returns the IDs of the loaded keys, primary first.
func (v *Vault) KeyIDs() []string { return append([]string(nil), v.ids...) }

// Seal encrypts plaintext under the primary key with a random 96-bit nonce,
// binding it to aad (the identity of what is sealed, so a sealed value cannot
// be swapped for another). It returns the primary key's ID and
// nonce||ciphertext||tag. A key must seal at most 2³² values.
func (v *Vault) Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error) {
	aead, ok := v.aeads[v.primary]
	if !ok {
		return "", nil, fmt.Errorf("seal secret with key %q: %w", v.primary, ErrUnknownKey)
	}
	return v.primary, aead.Seal(nil, nil, plaintext, aad), nil
}

// Open decrypts sealed, made by Seal under the key keyID with the same aad.
// It returns an error wrapping ErrUnknownKey if keyID is not loaded, and one
// wrapping ErrDecrypt if authentication fails.
func (v *Vault) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := v.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("open sealed secret with key %q: %w", keyID, ErrUnknownKey)
	}
	plaintext, err := aead.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed secret with key %q: %w", keyID, ErrDecrypt)
	}
	return plaintext, nil
}

// ErrKeyFilePermissions reports that a master key file can be read or written
// by its group or by others. Errors wrapping it name the file and its mode.
var ErrKeyFilePermissions = errors.New("master key file is accessible by group or others")

// maxKeyFileSize bounds what LoadKeyFile reads; a key line is 45 bytes.
const maxKeyFileSize = 64 << 10

const keyFileHeader = `# Sluice master keys: one base64 AES-256 key per line.
# The first key seals new secrets; keep older keys below it until nothing
# sealed with them remains. Keep this file private (chmod 600) and back it up:
# secrets sealed with a lost key cannot be recovered.
`

// LoadKeyFile reads the master keys in the file at path: one standard-base64
// key per line, the first being the primary; blank lines and lines starting
// with '#' are ignored, and a key repeated is returned once. It refuses a file
// that is not a regular file, that group or others may read or write (an
// error wrapping ErrKeyFilePermissions that says to run chmod 600), or that
// holds no key. A missing file is an error wrapping fs.ErrNotExist. Errors
// never contain key material.
func LoadKeyFile(path string) ([]MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load master key file %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load master key file %q: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load master key file %q: %w: its mode is %04o; run `chmod 600 %q`",
			path, ErrKeyFilePermissions, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load master key file %q: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("load master key file %q: larger than %d bytes", path, maxKeyFileSize)
	}
	var keys []MasterKey
	seen := make(map[string]bool)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseMasterKey(line)
		if err != nil {
			return nil, fmt.Errorf("load master key file %q: line %d: %w", path, i+1, err)
		}
		if !seen[k.ID] {
			seen[k.ID] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("load master key file %q: no keys in it", path)
	}
	return keys, nil
}

// WriteKeyFile replaces the file at path with keys (the first one primary),
// atomically: it writes a 0600 temporary file in the same directory, syncs
// it, renames it over path and syncs the directory. A crash leaves either the
// old file or the new one.
func WriteKeyFile(path string, keys []MasterKey) error {
	tmp, err := writeTempKeyFile(path, keys)
	if err != nil {
		return fmt.Errorf("write master key file %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write master key file %q: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write master key file %q: %w", path, err)
	}
	return nil
}

// LoadOrCreateKeyFile loads the key file at path, or, if there is none,
// creates it (mode 0600, its directory 0700 if missing) with one new key and
// reports created. If another process creates the file at the same time, the
// file that won is loaded, so every process ends up with the same keys.
func LoadOrCreateKeyFile(path string) (keys []MasterKey, created bool, err error) {
	keys, err = LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return keys, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create master key file %q: %w", path, err)
	}
	k, err := GenerateMasterKey()
	if err != nil {
		return nil, false, fmt.Errorf("create master key file %q: %w", path, err)
	}
	tmp, err := writeTempKeyFile(path, []MasterKey{k})
	if err != nil {
		return nil, false, fmt.Errorf("create master key file %q: %w", path, err)
	}
	defer os.Remove(tmp)
	// A hard link publishes the complete file without replacing one that
	// appeared meanwhile; rename is the fallback where links are unsupported.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			keys, err := LoadKeyFile(path)
			return keys, false, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, false, fmt.Errorf("create master key file %q: %w", path, err)
		}
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, false, fmt.Errorf("create master key file %q: %w", path, err)
	}
	return []MasterKey{k}, true, nil
}

// writeTempKeyFile writes keys to a new synced 0600 file next to path and
// returns its name.
func writeTempKeyFile(path string, keys []MasterKey) (name string, err error) {
	if len(keys) == 0 {
		return "", errors.New("no keys to write")
	}
	var b strings.Builder
	b.WriteString(keyFileHeader)
	for i, k := range keys {
		if len(k.key) != masterKeyLen {
			return "", fmt.Errorf("master key %d is not set", i)
		}
		b.WriteString(k.Base64())
		b.WriteByte('\n')
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return "", err
	}
	if _, err = f.WriteString(b.String()); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory %q: %w", dir, err)
	}
	return d.Close()
}
