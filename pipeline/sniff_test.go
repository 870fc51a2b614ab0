package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want Kind
	}{
		{"zip", []byte("PK\x03\x04\x14\x00"), KindZIP},
		{"empty zip", []byte("PK\x05\x06\x00\x00"), KindZIP},
		{"armored", []byte("\r\n-----BEGIN PGP MESSAGE-----\r\n"), KindOpenPGP},
		{"pkesk v3 new format", []byte{0xc1, 0x5e, 0x03, 0x01}, KindOpenPGP},
		{"pkesk v3 legacy format", []byte{0x84, 0x5e, 0x03, 0x01}, KindOpenPGP},
		{"skesk v4", []byte{0xc3, 0x0d, 0x04, 0x09}, KindOpenPGP},
		{"compressed legacy indeterminate", []byte{0xa3, 0x01, 0x02}, KindOpenPGP},
		{"csv", []byte("id,email\n1,a@b.c\n"), KindOther},
		{"utf-8 Ä header", []byte("Änderung;Betrag\n"), KindOther},
		{"utf-8 É header", []byte("État,montant\n"), KindOther},
		{"windows-1252 Ä header", []byte("\xc4nderung;Betrag\n"), KindOther},
		{"utf-8 bom", []byte("\xef\xbb\xbfid,email\n"), KindOther},
		{"empty", nil, KindOther},
		{"one byte", []byte{0xc1}, KindOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Sniff(tc.head))
		})
	}
}

// TestSniffGnuPG checks Sniff against messages the real gpg makes.
func TestSniffGnuPG(t *testing.T) {
	home := gnupgtest.New(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	require.NoError(t, os.WriteFile(in, []byte("Änderung;Betrag\n1;2\n"), 0o600))
	gpg := func(args ...string) {
		t.Helper()
		home.Must(t, nil, append([]string{"--passphrase", "x"}, args...)...)
	}
	gpg("--quick-gen-key", "Sniff <sniff@example.com>", "ed25519", "sign", "never")
	for name, args := range map[string][]string{
		"symmetric":  {"--symmetric"},
		"signed":     {"--sign"},
		"compressed": {"--store", "--compress-algo", "zlib"},
		"literal":    {"--store", "--compress-algo", "none"},
	} {
		out := filepath.Join(dir, name+".gpg")
		gpg(append(append([]string{"-o", out}, args...), in)...)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, KindOpenPGP, Sniff(b[:min(len(b), SniffLen)]), name)
	}
}
