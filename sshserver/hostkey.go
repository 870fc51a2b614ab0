package sshserver

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// generatedHostKeys are the keys made on first start when no host key paths
// are configured, by file name.
var generatedHostKeys = []struct {
	file     string
	generate func() (crypto.Signer, error)
}{
	{"ssh_host_ed25519_key", func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
	{"ssh_host_rsa_key", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) }},
}

// minRSABits is the smallest RSA host key accepted.
const minRSABits = 2048

// loadHostKeys returns the server's host keys: those at cfg.HostKeys, or
// the ones in cfg.HostKeyDir, generated there first if missing. RSA keys
// sign only with SHA-2 (rsa-sha2-512, rsa-sha2-256), never ssh-rsa.
func loadHostKeys(cfg Config, logger *slog.Logger) ([]ssh.Signer, error) {
	paths := cfg.HostKeys
	if len(paths) == 0 {
		if cfg.HostKeyDir == "" {
			return nil, errors.New("sftp.host_keys: empty, and no directory to generate host keys in")
		}
		if err := os.MkdirAll(cfg.HostKeyDir, 0o700); err != nil {
			return nil, fmt.Errorf("create host key directory %q: %w", cfg.HostKeyDir, err)
		}
		for _, g := range generatedHostKeys {
			p := filepath.Join(cfg.HostKeyDir, g.file)
			created, err := ensureHostKey(p, g.generate)
			if err != nil {
				return nil, err
			}
			if created {
				logger.Info("host key generated", "path", p)
			}
			paths = append(paths, p)
		}
	}
	var signers []ssh.Signer
	seen := map[string]string{}
	for _, p := range paths {
		s, err := readHostKey(p, logger)
		if err != nil {
			return nil, err
		}
		t := s.PublicKey().Type()
		if other, dup := seen[t]; dup {
			return nil, fmt.Errorf("sftp.host_keys: %s and %s are both %s keys; give one key per type", other, p, t)
		}
		seen[t] = p
		logger.Info("host key", "type", t, "fingerprint", ssh.FingerprintSHA256(s.PublicKey()))
		signers = append(signers, s)
	}
	return signers, nil
}

// readHostKey parses the unencrypted private key at p and refuses weak ones.
func readHostKey(p string, logger *slog.Logger) (ssh.Signer, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read host key %q: %w", p, err)
	}
	if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("host key is readable by other users; chmod 600 it", "path", p, "mode", fi.Mode().Perm().String())
	}
	key, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("host key %q is encrypted; host keys must be stored unencrypted (0600)", p)
	case err != nil:
		return nil, fmt.Errorf("parse host key %q: %w", p, err)
	}
	if k, ok := key.(*rsa.PrivateKey); ok && k.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("host key %q: RSA key of %d bits is too weak (at least %d)", p, k.N.BitLen(), minRSABits)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("host key %q: %w", p, err)
	}
	switch s.PublicKey().Type() {
	case ssh.KeyAlgoRSA:
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("host key %q: RSA signer cannot choose its algorithm", p)
		}
		return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return s, nil
	default:
		return nil, fmt.Errorf("host key %q: type %s is not accepted (use ed25519, ECDSA or RSA)", p, s.PublicKey().Type())
	}
}

// ensureHostKey creates the private key file p (0600, OpenSSH format) and
// p.pub unless p exists, and reports whether it did. The file appears
// atomically and is never overwritten: when two processes race, the first
// one's key wins and both use it.
func ensureHostKey(p string, generate func() (crypto.Signer, error)) (bool, error) {
	if _, err := os.Stat(p); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("stat host key %q: %w", p, err)
	}
	key, err := generate()
	if err != nil {
		return false, fmt.Errorf("generate host key %q: %w", p, err)
	}
	block, err := ssh.MarshalPrivateKey(key, "sluice host key")
	if err != nil {
		return false, fmt.Errorf("encode host key %q: %w", p, err)
	}
	dir := filepath.Dir(p)
	tmp, err := os.CreateTemp(dir, ".hostkey-*")
	if err != nil {
		return false, fmt.Errorf("create host key %q: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("create host key %q: %w", p, err)
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write host key %q: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write host key %q: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write host key %q: %w", p, err)
	}
	// A hard link, unlike a rename, fails if p appeared meanwhile.
	if err := os.Link(tmp.Name(), p); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("install host key %q: %w", p, err)
	}
	if pub, err := ssh.NewPublicKey(key.Public()); err == nil {
		// The public half is for operators (known_hosts); losing it is harmless.
		_ = os.WriteFile(p+".pub", ssh.MarshalAuthorizedKey(pub), 0o644)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return true, nil
}
