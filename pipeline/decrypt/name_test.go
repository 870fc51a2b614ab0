package decrypt

import (
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"
)

func TestOutputName(t *testing.T) {
	tests := []struct{ literal, in, want string }{
		{"orders.csv", "x.gpg", "orders.csv"},
		{"", "/orders/x.csv.gpg", "x.csv"},
		{"", "x.csv.ASC", "x.csv"},
		{"", "x.csv.pgp", "x.csv"},
		{"", `C:\uploads\x.csv.gpg`, "x.csv"},
		{"", "x.csv", "x.csv"},
		{"", ".gpg", "decrypted"},
		{"", "", "decrypted"},
		{"_CONSOLE", "x.gpg", "x"},
		{"a/b.csv", "x.gpg", "x"},
		{"..", "x.gpg", "x"},
		{" x.csv", "x.gpg", "x"},
		{"x\x00.csv", "x.gpg", "x"},
		{"\xff.csv", "x.gpg", "x"},
		{"résumé.csv", "x.gpg", "résumé.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.literal+"|"+tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, outputName(&packet.LiteralData{FileName: tc.literal}, tc.in))
		})
	}
	require.Equal(t, "x", outputName(nil, "x.gpg"))
	require.Equal(t, "pgp", (&Stage{}).Name())
}
