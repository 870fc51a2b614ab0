package sshserver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "root", in: "/", want: "/"},
		{name: "relative", in: "a/b", want: "/a/b"},
		{name: "dot dot at root", in: "/../../etc/passwd", want: "/etc/passwd"},
		{name: "dot dot inside", in: "/a/../../b", want: "/b"},
		{name: "trailing slash", in: "/a/b/", want: "/a/b"},
		{name: "empty", in: "", want: "/"},
		{name: "NUL", in: "/a\x00b", wantErr: "NUL"},
		{name: "newline", in: "/a\nb", wantErr: "control characters"},
		{name: "escape", in: "/a\x1b[31m", wantErr: "control characters"},
		{name: "DEL", in: "/a\x7f", wantErr: "control characters"},
		{name: "long element", in: "/" + strings.Repeat("x", 256), wantErr: "longer than 255 bytes"},
		{name: "longest element", in: "/" + strings.Repeat("x", 255), want: "/" + strings.Repeat("x", 255)},
		{name: "long path", in: strings.Repeat("/abcdefgh", 456), wantErr: "longer than 4096 bytes"},
		{name: "reserved", in: "/a/.sluice-p.x", wantErr: "reserved"},
		{name: "utf-8", in: "/données/naïve.csv", want: "/données/naïve.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cleanPath(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "a/../..", "/a/b/../c", "/.sluice-u.x", "/a\x00", "//a//b", strings.Repeat("/x", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := cleanPath(in)
		if err != nil {
			return
		}
		require.True(t, strings.HasPrefix(got, "/"))
		require.LessOrEqual(t, len(got), maxPathLen)
		require.NotContains(t, "/"+got+"/", "/../")
		require.NotContains(t, got, "\x00")
		if got != "/" {
			for _, elem := range strings.Split(got[1:], "/") {
				require.NotEmpty(t, elem)
				require.NotEqual(t, "..", elem)
				require.False(t, strings.HasPrefix(elem, reservedPrefix))
			}
		}
		again, err := cleanPath(got)
		require.NoError(t, err)
		require.Equal(t, got, again)
	})
}

func TestPartialName(t *testing.T) {
	short := "orders.csv"
	require.Equal(t, ".sluice-p.orders.csv", partialName(short))
	target, ok := partialTarget(partialName(short))
	require.True(t, ok)
	require.Equal(t, short, target)

	long := strings.Repeat("x", 250)
	p := partialName(long)
	require.LessOrEqual(t, len(p), maxNameLen)
	require.True(t, strings.HasPrefix(p, hashedPrefix))
	_, ok = partialTarget(p)
	require.False(t, ok, "hashed partial names are not listed")
	require.Equal(t, p, partialName(long), "deterministic")

	tn := tempName(long)
	require.LessOrEqual(t, len(tn), maxNameLen)
	require.True(t, strings.HasPrefix(tn, tempPrefix))
	require.NotEqual(t, tn, tempName(long))
}

func TestTempMatcher(t *testing.T) {
	m, err := newTempMatcher(DefaultTempPatterns)
	require.NoError(t, err)
	tests := []struct {
		base string
		want bool
	}{
		{"x.filepart", true},
		{"x.csv.part", true},
		{"x.tmp", true},
		{"x.partial", true},
		{".~lock.x#", true},
		{"x.csv", false},
		{"part", false},
		{"x.parts", false},
	}
	for _, tc := range tests {
		t.Run(tc.base, func(t *testing.T) {
			require.Equal(t, tc.want, m.match(tc.base))
		})
	}
	_, err = newTempMatcher([]string{"[a"})
	require.Error(t, err)
	_, err = newTempMatcher([]string{""})
	require.Error(t, err)
}

func TestLooksEncrypted(t *testing.T) {
	tests := []struct {
		name string
		head string
		want bool
	}{
		{name: "zip", head: "PK\x03\x04\x14\x00", want: true},
		{name: "empty zip", head: "PK\x05\x06\x00\x00", want: true},
		{name: "spanned zip", head: "PK\x07\x08PK\x03\x04", want: true},
		{name: "armored pgp", head: "-----BEGIN PGP MESSAGE-----\n\nhQEMA", want: true},
		{name: "armored pgp after blank line", head: "\r\n-----BEGIN PGP MESSAGE-----\n", want: true},
		{name: "gpg pkesk legacy", head: "\x85\x01\x0c\x03", want: true},
		{name: "gpg pkesk new format", head: "\xc1\x5e\x03", want: true},
		{name: "gpg symmetric legacy", head: "\x8c\x0d\x04\x07", want: true},
		{name: "seipd new format", head: "\xd2\x45\x01", want: true},
		{name: "aead", head: "\xd4\x45\x01", want: true},
		{name: "marker", head: "\xa8\x03PGP", want: true},
		{name: "signed only", head: "\x90\x0d\x03\x00", want: false},
		{name: "compressed only", head: "\xa3\x01", want: false},
		{name: "armored public key", head: "-----BEGIN PGP PUBLIC KEY BLOCK-----", want: false},
		{name: "csv", head: "id,email\n1,a@b.c\n", want: false},
		{name: "csv with BOM", head: "\xef\xbb\xbfid,email\n", want: false},
		{name: "latin-1", head: "\xe9t\xe9,prix\n", want: false},
		{name: "utf-8 Ä (0xc3 reads as a tag 3 header)", head: "Änderung;Betrag\n", want: false},
		{name: "windows-1252 Ä", head: "\xc4nderung;Betrag\n", want: false},
		{name: "empty", head: "", want: false},
		{name: "pk only", head: "PK", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, looksEncrypted([]byte(tc.head)))
		})
	}
}

func FuzzLooksEncrypted(f *testing.F) {
	for _, s := range []string{"PK\x03\x04", "-----BEGIN PGP MESSAGE-----", "\x85\x01", "\xef\xbb\xbf", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		got := looksEncrypted(head)
		if len(head) > 0 && head[0] < 0x80 && head[0] != 'P' && head[0] != '-' && head[0] != ' ' && head[0] != '\t' && head[0] != '\r' && head[0] != '\n' {
			require.False(t, got)
		}
	})
}
