package credentials

import (
	"crypto/dsa" //nolint:staticcheck // DSA keys are built only to prove they are refused.
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// sshKeygen generates a key pair with ssh-keygen in a temporary directory and
// returns the path of the private key (the public key is path + ".pub"). It
// skips the test if ssh-keygen is not installed.
func sshKeygen(t *testing.T, comment string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	path := filepath.Join(t.TempDir(), "key")
	args = append([]string{"-q", "-N", "", "-C", comment, "-f", path}, args...)
	out, err := exec.CommandContext(t.Context(), "ssh-keygen", args...).CombinedOutput()
	require.NoError(t, err, "ssh-keygen: %s", out)
	return path
}

// readFile returns the content of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// sshFingerprint returns the SHA256 fingerprint ssh-keygen -lf prints for a
// public key file.
func sshFingerprint(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ssh-keygen", "-E", "sha256", "-lf", path).CombinedOutput()
	require.NoError(t, err, "ssh-keygen -lf: %s", out)
	fields := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(fields), 2, "ssh-keygen -lf: %s", out)
	return fields[1]
}

// authorizedLine marshals a Go public key as an authorized_keys line.
func authorizedLine(t *testing.T, pub any, comment string) string {
	t.Helper()
	key, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + " " + comment
}

// wireLine builds an authorized_keys line from a raw key blob, for key types
// that cannot be generated without hardware (FIDO sk- keys).
func wireLine(typ string, blob any, comment string) string {
	return typ + " " + base64.StdEncoding.EncodeToString(ssh.Marshal(blob)) + " " + comment
}

func TestParseSSHPublicKeyAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		algorithm string
		bits      int
	}{
		{name: "ed25519", args: []string{"-t", "ed25519"}, algorithm: ssh.KeyAlgoED25519, bits: 256},
		{name: "ecdsa p256", args: []string{"-t", "ecdsa", "-b", "256"}, algorithm: ssh.KeyAlgoECDSA256, bits: 256},
		{name: "ecdsa p384", args: []string{"-t", "ecdsa", "-b", "384"}, algorithm: ssh.KeyAlgoECDSA384, bits: 384},
		{name: "ecdsa p521", args: []string{"-t", "ecdsa", "-b", "521"}, algorithm: ssh.KeyAlgoECDSA521, bits: 521},
		{name: "rsa 2048", args: []string{"-t", "rsa", "-b", "2048"}, algorithm: ssh.KeyAlgoRSA, bits: 2048},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := sshKeygen(t, "alice@laptop", tc.args...)
			line := readFile(t, path+".pub")

			key, err := ParseSSHPublicKey(line)
			require.NoError(t, err)
			require.Equal(t, tc.algorithm, key.Algorithm)
			require.Equal(t, tc.bits, key.Bits)
			require.Equal(t, "alice@laptop", key.Comment)
			require.Equal(t, strings.TrimSpace(line), key.Line)
			require.Equal(t, sshFingerprint(t, path+".pub"), key.Fingerprint)
			require.Equal(t, tc.algorithm, key.Key.Type())
		})
	}
}

func TestParseSSHPublicKeyNormalises(t *testing.T) {
	t.Parallel()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	key, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString(key.Marshal())

	tests := []struct {
		name    string
		in      string
		line    string
		comment string
	}{
		{name: "no comment", in: "ssh-ed25519 " + b64, line: "ssh-ed25519 " + b64},
		{name: "surrounding space and CRLF", in: "  ssh-ed25519 " + b64 + " bob@host \r\n", line: "ssh-ed25519 " + b64 + " bob@host", comment: "bob@host"},
		{name: "comment with spaces", in: "ssh-ed25519 " + b64 + " Bob Smith laptop", line: "ssh-ed25519 " + b64 + " Bob Smith laptop", comment: "Bob Smith laptop"},
		{name: "comment lines around", in: "# bob's laptop\n\nssh-ed25519 " + b64 + " bob\n", line: "ssh-ed25519 " + b64 + " bob", comment: "bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSSHPublicKey(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.line, got.Line)
			require.Equal(t, tc.comment, got.Comment)
			require.Equal(t, ssh.FingerprintSHA256(key), got.Fingerprint)
		})
	}
}

func TestParseSSHPublicKeyFIDO(t *testing.T) {
	t.Parallel()
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ecKey, err := ecdhP256Point()
	require.NoError(t, err)

	tests := []struct {
		name      string
		line      string
		algorithm string
		bits      int
	}{
		{
			name: "sk-ssh-ed25519",
			line: wireLine(ssh.KeyAlgoSKED25519, struct {
				Name, Key, Application string
			}{ssh.KeyAlgoSKED25519, string(edPub), "ssh:"}, "yubikey"),
			algorithm: ssh.KeyAlgoSKED25519,
			bits:      256,
		},
		{
			name: "sk-ecdsa-sha2-nistp256",
			line: wireLine(ssh.KeyAlgoSKECDSA256, struct {
				Name, Curve, Key, Application string
			}{ssh.KeyAlgoSKECDSA256, "nistp256", string(ecKey), "ssh:"}, "yubikey"),
			algorithm: ssh.KeyAlgoSKECDSA256,
			bits:      256,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSSHPublicKey(tc.line)
			require.NoError(t, err)
			require.Equal(t, tc.algorithm, got.Algorithm)
			require.Equal(t, tc.bits, got.Bits)
			require.Equal(t, "yubikey", got.Comment)
			require.Equal(t, tc.line, got.Line)
		})
	}
}

// ecdhP256Point returns an uncompressed P-256 public point.
func ecdhP256Point() ([]byte, error) {
	_, x, y, err := elliptic.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return elliptic.Marshal(elliptic.P256(), x, y), nil //nolint:staticcheck // the SSH wire format is the uncompressed point.
}

func TestParseSSHPublicKeyRejects(t *testing.T) {
	t.Parallel()
	path := sshKeygen(t, "alice@laptop", "-t", "ed25519")
	pubLine := strings.TrimSpace(readFile(t, path+".pub"))
	privateKey := readFile(t, path)
	other := strings.TrimSpace(readFile(t, sshKeygen(t, "alice@desktop", "-t", "ed25519")+".pub"))

	ca := sshKeygen(t, "ca", "-t", "ed25519")
	out, err := exec.CommandContext(t.Context(), "ssh-keygen", "-q", "-s", ca, "-I", "alice", "-n", "alice", path+".pub").CombinedOutput()
	require.NoError(t, err, "ssh-keygen -s: %s", out)
	certLine := readFile(t, path+"-cert.pub")

	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	var params dsa.Parameters
	require.NoError(t, dsa.GenerateParameters(&params, rand.Reader, dsa.L1024N160))
	dsaKey := dsa.PrivateKey{PublicKey: dsa.PublicKey{Parameters: params}}
	require.NoError(t, dsa.GenerateKey(&dsaKey, rand.Reader))

	edBlob := strings.Fields(pubLine)[1]
	tests := []struct {
		name   string
		in     string
		reason string
	}{
		{name: "empty", in: "", reason: "the key is empty: paste one authorized_keys line such as the content of ~/.ssh/id_ed25519.pub"},
		{name: "blank", in: " \n\t ", reason: "the key is empty: paste one authorized_keys line such as the content of ~/.ssh/id_ed25519.pub"},
		{name: "garbage", in: "hello world", reason: `not an authorized_keys line: expected "<type> <base64> [comment]", e.g. the content of ~/.ssh/id_ed25519.pub`},
		{name: "bad base64", in: "ssh-ed25519 !!notbase64!! alice", reason: `not an authorized_keys line: expected "<type> <base64> [comment]", e.g. the content of ~/.ssh/id_ed25519.pub`},
		{name: "type only", in: "ssh-ed25519", reason: `not an authorized_keys line: expected "<type> <base64> [comment]", e.g. the content of ~/.ssh/id_ed25519.pub`},
		{name: "type mismatch", in: "ssh-rsa " + edBlob, reason: `not an authorized_keys line: expected "<type> <base64> [comment]", e.g. the content of ~/.ssh/id_ed25519.pub`},
		{name: "two keys", in: pubLine + "\n" + other + "\n", reason: "more than one key (2 lines): add each key as its own credential"},
		{name: "from option", in: `from="10.0.0.0/8" ` + pubLine, reason: "authorized_keys options (such as from= or command=) are not supported: paste the key without them and set restrictions on the account instead"},
		{name: "command option", in: `command="/bin/true",no-pty ` + pubLine, reason: "authorized_keys options (such as from= or command=) are not supported: paste the key without them and set restrictions on the account instead"},
		{name: "restrict", in: "restrict " + pubLine, reason: "authorized_keys options (such as from= or command=) are not supported: paste the key without them and set restrictions on the account instead"},
		{name: "certificate", in: certLine, reason: "SSH certificates are not supported yet: paste the plain public key"},
		{name: "private key", in: privateKey, reason: "this is a private key: never share it; paste the public key instead (the .pub file, or ssh-keygen -y -f KEYFILE)"},
		{name: "pem private key", in: "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n", reason: "this is a private key: never share it; paste the public key instead (the .pub file, or ssh-keygen -y -f KEYFILE)"},
		{name: "rfc4716", in: "---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----\n", reason: "this is an RFC 4716 (SSH2) public key: convert it with ssh-keygen -i -f KEYFILE and paste the resulting line"},
		{name: "rsa 1024", in: authorizedLine(t, &rsa1024.PublicKey, "old"), reason: "RSA keys must be at least 2048 bits (got 1024)"},
		{name: "dsa", in: authorizedLine(t, &dsaKey.PublicKey, "older"), reason: "DSA keys are not accepted: use ed25519, ecdsa or rsa ≥ 2048"},
		{name: "too long", in: "ssh-ed25519 " + strings.Repeat("A", maxSSHKeyLineBytes), reason: "the key is too long (over 16384 bytes): paste one authorized_keys line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSSHPublicKey(tc.in)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, "public_key", verr.Field)
			require.Equal(t, tc.reason, verr.Reason)
		})
	}

	t.Run("private key is never echoed", func(t *testing.T) {
		t.Parallel()
		_, err := ParseSSHPublicKey(privateKey)
		require.Error(t, err)
		for _, l := range strings.Split(privateKey, "\n")[1:3] {
			require.NotContains(t, err.Error(), l)
		}
	})
}

func FuzzParseSSHPublicKey(f *testing.F) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		f.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	for _, seed := range []string{
		"", line, line + " comment", `from="x" ` + line, line + "\n" + line,
		"ssh-rsa AAAA", "ssh-dss AAAAB3NzaC1kc3M=", "-----BEGIN OPENSSH PRIVATE KEY-----",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseSSHPublicKey(in)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field != "public_key" {
				t.Fatalf("ParseSSHPublicKey: error %v is not a public_key *ValidationError", err)
			}
			return
		}
		// An accepted key round-trips through its normalised line.
		again, err := ParseSSHPublicKey(got.Line)
		if err != nil || again.Line != got.Line || again.Fingerprint != got.Fingerprint {
			t.Fatalf("ParseSSHPublicKey(%q) does not round-trip: %v", got.Line, err)
		}
	})
}
