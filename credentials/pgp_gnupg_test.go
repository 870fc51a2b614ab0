package credentials

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
)

// gnupg runs the real GnuPG in a private home directory, with this
// package's key-making helpers on top.
type gnupg struct{ *gnupgtest.Home }

// newGnuPG starts a GnuPG home for one test; see gnupgtest.New.
func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	return &gnupg{gnupgtest.New(t)}
}

// openGnuPG creates a GnuPG home the caller closes; see gnupgtest.Open.
func openGnuPG() (*gnupg, error) {
	h, err := gnupgtest.Open()
	if err != nil {
		return nil, err
	}
	return &gnupg{h}, nil
}

// generate makes a key with --quick-gen-key and, if subAlgo is not empty, an
// encryption subkey, all protected by passphrase (none if empty); extra
// arguments (such as --faked-system-time) go before the command. It returns
// the primary key's fingerprint.
func (g *gnupg) generate(ctx context.Context, uid, algo, usage, subAlgo, expire, passphrase string, extra ...string) (string, error) {
	args := append([]string{"--passphrase", passphrase}, extra...)
	if _, err := g.Run(ctx, nil, append(args, "--quick-gen-key", uid, algo, usage, expire)...); err != nil {
		return "", err
	}
	out, err := g.Run(ctx, nil, "--with-colons", "--list-keys", "="+uid)
	if err != nil {
		return "", err
	}
	var fpr string
	for line := range strings.Lines(string(out)) {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		return "", errors.New("gpg --list-keys: no fingerprint")
	}
	if subAlgo != "" {
		if _, err := g.Run(ctx, nil, append(args, "--quick-add-key", fpr, subAlgo, "encr", expire)...); err != nil {
			return "", err
		}
	}
	return fpr, nil
}

// exportSecret returns the armored secret key(s) of fprs.
func (g *gnupg) exportSecret(ctx context.Context, passphrase string, fprs ...string) (string, error) {
	out, err := g.Run(ctx, nil, append([]string{"--passphrase", passphrase, "--armor", "--export-secret-keys"}, fprs...)...)
	return string(out), err
}

// exportPublic returns the armored public key(s) of fprs.
func (g *gnupg) exportPublic(ctx context.Context, fprs ...string) (string, error) {
	out, err := g.Run(ctx, nil, append([]string{"--armor", "--export"}, fprs...)...)
	return string(out), err
}

// revoke imports the revocation certificate GnuPG stored when it made fpr,
// after removing the colon that guards it.
func (g *gnupg) revoke(ctx context.Context, fpr string) error {
	cert, err := os.ReadFile(filepath.Join(g.Dir, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		return fmt.Errorf("read revocation certificate: %w", err)
	}
	cert = bytes.ReplaceAll(cert, []byte("\n:-----"), []byte("\n-----"))
	_, err = g.Run(ctx, cert, "--import")
	return err
}

// gpgPassphrase protects the protected fixtures.
const gpgPassphrase = "correct horse battery staple"

// gpgKeys are keys made by GnuPG, shared by the tests of one test binary.
type gpgKeys struct {
	edFpr, rsaFpr          string
	edPlain, edProtected   string // ed25519 + cv25519, armored secret keys
	rsaPlain, rsaProtected string // rsa3072 + rsa3072, armored secret keys
	edPublic               string // public part of edPlain
	edSubkeysOnly          string // edPlain from --export-secret-subkeys: the primary secret is a stub
	edBinaryPublic         string // edPlain's public key without armor
	signOnlyPublic         string // ed25519 primary key, no encryption subkey
	signOnlySecret         string
	expiredSecret          string // made 2020-01-01, expired 2020-01-02
	expiredPublic          string
	revokedSecret          string
	subkeyExpiredSecret    string // primary key valid, its only encryption subkey expired 2020-01-02
	revokedPublic          string
	twoKeysOneBlock        string // two secret keys in one armored block
}

// loadGPGKeys returns the GnuPG-made keys, generating them on first use.
// It skips the test if gpg is not installed.
func loadGPGKeys(t *testing.T) *gpgKeys {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	keys, err := gpgKeysOnce()
	require.NoError(t, err)
	return keys
}

var gpgKeysOnce = sync.OnceValues(makeGPGKeys)

// makeGPGKeys generates the gpgKeys fixtures in a throw-away GnuPG home.
func makeGPGKeys() (*gpgKeys, error) {
	ctx := context.Background()
	g, err := openGnuPG()
	if err != nil {
		return nil, err
	}
	defer g.Close()

	var k gpgKeys
	steps := []func() error{
		func() (err error) {
			k.edFpr, err = g.generate(ctx, "Ed Plain <ed@example.test>", "ed25519", "cert,sign", "cv25519", "never", "")
			return err
		},
		func() (err error) { k.edPlain, err = g.exportSecret(ctx, "", k.edFpr); return err },
		func() (err error) { k.edPublic, err = g.exportPublic(ctx, k.edFpr); return err },
		func() error {
			out, err := g.Run(ctx, nil, "--passphrase", "", "--armor", "--export-secret-subkeys", k.edFpr)
			k.edSubkeysOnly = string(out)
			return err
		},
		func() error {
			out, err := g.Run(ctx, nil, "--export", k.edFpr)
			k.edBinaryPublic = string(out)
			return err
		},
		func() error {
			fpr, err := g.generate(ctx, "Ed Protected <edp@example.test>", "ed25519", "cert,sign", "cv25519", "never", gpgPassphrase)
			if err != nil {
				return err
			}
			k.edProtected, err = g.exportSecret(ctx, gpgPassphrase, fpr)
			return err
		},
		func() (err error) {
			k.rsaFpr, err = g.generate(ctx, "RSA Plain <rsa@example.test>", "rsa3072", "cert,sign", "rsa3072", "never", "")
			if err != nil {
				return err
			}
			k.rsaPlain, err = g.exportSecret(ctx, "", k.rsaFpr)
			return err
		},
		func() error {
			fpr, err := g.generate(ctx, "RSA Protected <rsap@example.test>", "rsa3072", "cert,sign", "rsa3072", "never", gpgPassphrase)
			if err != nil {
				return err
			}
			k.rsaProtected, err = g.exportSecret(ctx, gpgPassphrase, fpr)
			return err
		},
		func() error {
			fpr, err := g.generate(ctx, "Sign Only <sign@example.test>", "ed25519", "sign", "", "never", "")
			if err != nil {
				return err
			}
			if k.signOnlyPublic, err = g.exportPublic(ctx, fpr); err != nil {
				return err
			}
			k.signOnlySecret, err = g.exportSecret(ctx, "", fpr)
			return err
		},
		func() error {
			fpr, err := g.generate(ctx, "Expired <old@example.test>", "ed25519", "cert,sign", "cv25519", "1d", "",
				"--faked-system-time", "20200101T000000!")
			if err != nil {
				return err
			}
			if k.expiredPublic, err = g.exportPublic(ctx, fpr); err != nil {
				return err
			}
			k.expiredSecret, err = g.exportSecret(ctx, "", fpr)
			return err
		},
		func() error {
			fpr, err := g.generate(ctx, "Revoked <gone@example.test>", "ed25519", "cert,sign", "cv25519", "never", "")
			if err != nil {
				return err
			}
			if err := g.revoke(ctx, fpr); err != nil {
				return err
			}
			if k.revokedPublic, err = g.exportPublic(ctx, fpr); err != nil {
				return err
			}
			k.revokedSecret, err = g.exportSecret(ctx, "", fpr)
			return err
		},
		func() error {
			fpr, err := g.generate(ctx, "Old Subkey <sub@example.test>", "ed25519", "cert,sign", "", "never", "",
				"--faked-system-time", "20200101T000000!")
			if err != nil {
				return err
			}
			if _, err := g.Run(ctx, nil, "--passphrase", "", "--faked-system-time", "20200101T000000!",
				"--quick-add-key", fpr, "cv25519", "encr", "1d"); err != nil {
				return err
			}
			k.subkeyExpiredSecret, err = g.exportSecret(ctx, "", fpr)
			return err
		},
		func() (err error) { k.twoKeysOneBlock, err = g.exportSecret(ctx, "", k.edFpr, k.rsaFpr); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return &k, nil
}
