package unzip

import (
	"archive/zip"
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/blob/blobtest"
	"github.com/stretchr/testify/require"
)

// chancePassword returns a password other than the archive's that passes
// the ZipCrypto check byte of its first entry, as one in 256 do.
func chancePassword(t *testing.T, archive []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	require.NoError(t, err)
	f := zr.File[0]
	off, err := f.DataOffset()
	require.NoError(t, err)
	var header [zipCryptoHeaderLen]byte
	copy(header[:], archive[off:])
	for i := range 1 << 16 {
		pw := fmt.Sprintf("wrong-%d", i)
		if _, ok := openZipCrypto(f, header, pw); ok {
			return pw
		}
	}
	t.Fatal("no password passes the check byte")
	return ""
}

// TestProcessZipCryptoCheckByte: a wrong password that passes ZipCrypto's
// one-byte password check (1 in 256 do) is still a wrong password for the
// customer, not a corrupt entry; and when the data of an entry is damaged,
// which the right password cannot tell from a wrong one either, the message
// says both. The archives are 7z's, of one entry, deflated and stored.
func TestProcessZipCryptoCheckByte(t *testing.T) {
	body := csvBody(3000)
	for _, tc := range []struct {
		name     string
		switches []string
		damage   bool
		wantMsg  string
	}{
		{"wrong password passing the check, deflated", nil, false, `entry "a.csv": none of the account's ZIP passwords opens the entry`},
		{"wrong password passing the check, stored", []string{"-mm=Copy"}, false, `entry "a.csv": none of the account's ZIP passwords opens the entry`},
		{"right password, damaged data, stored", []string{"-mm=Copy"}, true, "none of the account's ZIP passwords opens the entry (or the entry is damaged)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive := sevenZipBytes(t, append([]string{"-mem=ZipCrypto", "-pright"}, tc.switches...), file{name: "a.csv", body: body})
			passwords := []string{"right"}
			if tc.damage {
				archive = tamper(t, archive)
			} else {
				passwords = []string{chancePassword(t, archive)}
			}
			e := newEnv(t, DefaultConfig(), passwords, true)
			counted := &blobtest.Counting{Dir: e.blobs}
			e.stage.blobs = counted
			outs, err := e.stage.Process(t.Context(), e.put(t, archive))
			require.Nil(t, outs)
			requireRefused(t, e, err, ErrWrongPassword, tc.wantMsg)
			require.NotErrorIs(t, err, ErrCorruptEntry)
			require.NotContains(t, err.Error(), passwords[0], "no password in messages")
			require.LessOrEqual(t, counted.Written(), int64(len(body)), "at most the entry's declared size was written, then aborted")
		})
	}
}
