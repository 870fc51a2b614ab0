package decrypt

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

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
)

// gnupg runs the real GnuPG in a private home directory, with this
// package's key-making helpers on top.
type gnupg struct{ *gnupgtest.Home }

// openGnuPG creates a GnuPG home the caller closes; see gnupgtest.Open.
func openGnuPG() (*gnupg, error) {
	h, err := gnupgtest.Open()
	if err != nil {
		return nil, err
	}
	return &gnupg{h}, nil
}

// generate makes a key without passphrase: a primary key of algo and an
// encryption subkey of subAlgo. It returns the primary key's fingerprint.
func (g *gnupg) generate(ctx context.Context, uid, algo, subAlgo string) (string, error) {
	if _, err := g.Run(ctx, nil, "--passphrase", "", "--quick-gen-key", uid, algo, "sign", "never"); err != nil {
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
		if _, err := g.Run(ctx, nil, "--passphrase", "", "--quick-add-key", fpr, subAlgo, "encr", "never"); err != nil {
			return "", err
		}
	}
	return fpr, nil
}

// entities exports the keys of fprs (secret ones if secret) and parses them.
func (g *gnupg) entities(ctx context.Context, secret bool, fprs ...string) (openpgp.EntityList, error) {
	cmd := "--export"
	if secret {
		cmd = "--export-secret-keys"
	}
	out, err := g.Run(ctx, nil, append([]string{"--passphrase", "", "--armor", cmd}, fprs...)...)
	if err != nil {
		return nil, err
	}
	return openpgp.ReadArmoredKeyRing(bytes.NewReader(out))
}

// The user ids of the fixtures' keys.
const (
	uidRSA      = "Account RSA <rsa@account.test>"
	uidEd       = "Account Ed <ed@account.test>"
	uidOther    = "Someone Else <other@else.test>"
	uidSigner   = "Known Signer <signer@customer.test>"
	uidStranger = "Unknown Signer <stranger@else.test>"
)

// fixtures are keys and messages made by GnuPG, shared by the tests of one
// test binary.
type fixtures struct {
	plain     []byte             // the content of every message
	rsa, ed   openpgp.EntityList // the account's secret keys, unlocked
	signer    openpgp.EntityList // the known signer's public key
	signerFpr string
	rsaSubID  string // the account's encryption subkey ids
	edSubID   string
	otherSub  string // the encryption subkey id of uidOther
	stranger  string // the key id of uidStranger's signing key
	msgs      map[string][]byte
}

// loadFixtures returns the GnuPG-made fixtures, making them on first use. It
// skips the test if gpg is not installed.
func loadFixtures(t testing.TB) *fixtures {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	f, err := fixturesOnce()
	require.NoError(t, err)
	return f
}

var fixturesOnce = sync.OnceValues(makeFixtures)

// fixturePlain is about 300 KB of CSV, so that a byte flipped in the middle
// of a message lands in its content.
func fixturePlain() []byte {
	var b bytes.Buffer
	b.WriteString("id,name,email,amount,date\n")
	for i := range 6000 {
		fmt.Fprintf(&b, "%d,customer %d,user%d@example.com,%d.%02d,2024-%02d-%02d\n", i, i*7919%10007, i*104729%1000003, i*31%9973, i%100, 1+i%12, 1+i%28)
	}
	return b.Bytes()
}

// makeFixtures generates the keys and messages in a throw-away GnuPG home.
func makeFixtures() (*fixtures, error) {
	ctx := context.Background()
	g, err := openGnuPG()
	if err != nil {
		return nil, err
	}
	defer g.Close()

	f := &fixtures{plain: fixturePlain(), msgs: map[string][]byte{}}
	fprs := map[string]string{}
	for _, k := range []struct{ uid, algo, sub string }{
		{uidRSA, "rsa3072", "rsa3072"},
		{uidEd, "ed25519", "cv25519"},
		{uidOther, "ed25519", "cv25519"},
		{uidSigner, "ed25519", ""},
		{uidStranger, "ed25519", ""},
	} {
		if fprs[k.uid], err = g.generate(ctx, k.uid, k.algo, k.sub); err != nil {
			return nil, err
		}
	}
	if f.rsa, err = g.entities(ctx, true, fprs[uidRSA]); err != nil {
		return nil, err
	}
	if f.ed, err = g.entities(ctx, true, fprs[uidEd]); err != nil {
		return nil, err
	}
	if f.signer, err = g.entities(ctx, false, fprs[uidSigner]); err != nil {
		return nil, err
	}
	other, err := g.entities(ctx, false, fprs[uidOther])
	if err != nil {
		return nil, err
	}
	stranger, err := g.entities(ctx, false, fprs[uidStranger])
	if err != nil {
		return nil, err
	}
	f.signerFpr = fprs[uidSigner]
	f.rsaSubID = keyID(f.rsa[0].Subkeys[0].PublicKey.KeyId)
	f.edSubID = keyID(f.ed[0].Subkeys[0].PublicKey.KeyId)
	f.otherSub = keyID(other[0].Subkeys[0].PublicKey.KeyId)
	f.stranger = keyID(stranger[0].PrimaryKey.KeyId)

	plainFile := filepath.Join(g.Dir, "orders.csv")
	if err := os.WriteFile(plainFile, f.plain, 0o600); err != nil {
		return nil, err
	}
	zeros := filepath.Join(g.Dir, "zeros.csv")
	if err := os.WriteFile(zeros, make([]byte, 8<<20), 0o600); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		name string
		args []string
	}{
		{"rsa", []string{"-r", uidRSA, "-e", plainFile}},
		{"ed", []string{"-r", uidEd, "-e", plainFile}},
		{"uncompressed", []string{"-r", uidEd, "--compress-algo", "none", "-e", plainFile}},
		{"zip", []string{"-r", uidEd, "--compress-algo", "zip", "-e", plainFile}},
		{"bzip2", []string{"-r", uidRSA, "--compress-algo", "bzip2", "-e", plainFile}},
		{"armored", []string{"-r", uidEd, "--armor", "-e", plainFile}},
		{"two-recipients", []string{"-r", uidOther, "-r", uidRSA, "-e", plainFile}},
		{"hidden-recipient", []string{"--hidden-recipient", uidEd, "-e", plainFile}},
		{"hidden-other", []string{"--hidden-recipient", uidOther, "-e", plainFile}},
		{"cast5", []string{"-r", uidEd, "--cipher-algo", "CAST5", "-e", plainFile}},
		{"stored", []string{"--store", plainFile}},
		{"other", []string{"-r", uidOther, "-e", plainFile}},
		{"symmetric", []string{"--passphrase", "x", "--symmetric", plainFile}},
		{"no-mdc", []string{"-r", uidRSA, "--rfc2440", "--cipher-algo", "CAST5", "-e", plainFile}},
		{"bomb", []string{"-r", uidEd, "-z", "9", "--compress-algo", "zlib", "-e", zeros}},
		{"signed", []string{"-u", uidSigner, "-r", uidEd, "--sign", "-e", plainFile}},
		{"signed-rsa", []string{"-u", uidSigner, "-r", uidRSA, "--compress-algo", "none", "--sign", "-e", plainFile}},
		{"signed-stranger", []string{"-u", uidStranger, "-r", uidEd, "--sign", "-e", plainFile}},
		{"signed-only", []string{"-u", uidSigner, "--compress-algo", "none", "--sign", plainFile}},
	} {
		out := filepath.Join(g.Dir, m.name+".out")
		if _, err := g.Run(ctx, nil, append([]string{"-o", out}, m.args...)...); err != nil {
			return nil, err
		}
		if f.msgs[m.name], err = os.ReadFile(out); err != nil {
			return nil, err
		}
	}
	// From standard input: the literal data packet has no file name.
	if f.msgs["stdin"], err = g.Run(ctx, f.plain, "-r", uidEd, "-e"); err != nil {
		return nil, err
	}
	return f, nil
}
