package unzip

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

// TestProcessAccepts cross-checks the AES reader against the real 7z (all
// three key sizes, deflate and store, AE-2 as 7-Zip writes it and AE-1 made
// from it) and alexmullins/zip, and reads plain archives.
func TestProcessAccepts(t *testing.T) {
	big := csvBody(20_000)
	files := []file{{name: "orders.csv", body: big}, {name: "dir/small.txt", body: "hi\n"}, {name: "empty.csv", body: ""}}
	want := map[string]string{"orders.csv": big, "dir/small.txt": "hi\n", "empty.csv": ""}
	sevenZ := func(switches ...string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			archive := filepath.Join(t.TempDir(), "a.zip")
			sevenZip(t, archive, switches, files...)
			b, err := os.ReadFile(archive)
			require.NoError(t, err)
			return b
		}
	}
	for _, tc := range []struct {
		name      string
		archive   func(t *testing.T) []byte
		encrypted bool
	}{
		{"7z AES-128", sevenZ("-mem=AES128", "-pright"), true},
		{"7z AES-192", sevenZ("-mem=AES192", "-pright"), true},
		{"7z AES-256", sevenZ("-mem=AES256", "-pright"), true},
		{"7z AES-256 stored", sevenZ("-mem=AES256", "-pright", "-mm=Copy"), true},
		{"7z AES-256 made AE-1", func(t *testing.T) []byte { return toAE1(t, sevenZ("-mem=AES256", "-pright")(t), want, false) }, true},
		{"7z plain", sevenZ(), false},
		{"alexmullins AES-256", func(t *testing.T) []byte {
			var secret []file
			for _, f := range files {
				f.secret = true
				secret = append(secret, f)
			}
			return alexZip(t, "right", secret...)
		}, true},
		{"archive/zip plain", func(t *testing.T) []byte { return plainZip(t, files...) }, false},
		{"archive/zip stored", func(t *testing.T) []byte {
			return plainZip(t, file{name: "orders.csv", body: big, store: true}, file{name: "dir/small.txt", body: "hi\n", store: true}, file{name: "empty.csv", store: true})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), []string{"wrong", "right", "other"}, false)
			in := e.put(t, tc.archive(t))
			outs, err := e.stage.Process(t.Context(), in)
			require.NoError(t, err)
			require.Equal(t, want, e.contents(t, outs))
			for _, o := range outs {
				require.Equal(t, tc.encrypted, o.Encrypted, o.Name)
				require.Equal(t, "acme", o.Account)
				require.Equal(t, "orders", o.Feed)
				sum := sha256.Sum256([]byte(want[o.Name]))
				require.Equal(t, hex.EncodeToString(sum[:]), o.SHA256)
			}

			again, err := e.stage.Process(t.Context(), in)
			require.NoError(t, err)
			require.Equal(t, outs, again, "a redelivery yields the same objects and keys")
			require.Len(t, e.outputs(t), len(outs))
		})
	}
}

// toAE1 turns a 7-Zip AE-2 archive (which zeroes the CRC-32) into AE-1 by
// setting the vendor version and the CRC of every entry, in the local and
// the central headers; with badCRC the CRC is off by one. The HMAC covers
// only the ciphertext, so the archive stays valid: 7z tests it.
func toAE1(t *testing.T, archive []byte, bodies map[string]string, badCRC bool) []byte {
	t.Helper()
	out := bytes.Clone(archive)
	crcs := make(map[string]uint32)
	for name, body := range bodies {
		crcs[name] = crc32.ChecksumIEEE([]byte(body))
	}
	// patch fixes the header at hdr, of fixed length fixed, whose name and
	// extra lengths are at nameLenOff and nameLenOff+2.
	patch := func(hdr, fixed, nameLenOff, crcOff int, name string) {
		c := crcs[name]
		if badCRC {
			c++
		}
		binary.LittleEndian.PutUint32(out[hdr+crcOff:], c)
		nameLen := int(binary.LittleEndian.Uint16(out[hdr+nameLenOff:]))
		extraLen := int(binary.LittleEndian.Uint16(out[hdr+nameLenOff+2:]))
		extra := out[hdr+fixed+nameLen:]
		for p := 0; p+4 <= extraLen; {
			id, n := binary.LittleEndian.Uint16(extra[p:]), int(binary.LittleEndian.Uint16(extra[p+2:]))
			if id == extraAES {
				binary.LittleEndian.PutUint16(extra[p+4:], 1)
			}
			p += 4 + n
		}
	}
	for i := 0; i+4 <= len(out); i++ {
		switch binary.LittleEndian.Uint32(out[i:]) {
		case sigLocal:
			nameLen := int(binary.LittleEndian.Uint16(out[i+26:]))
			if i+30+nameLen <= len(out) && hasKey(crcs, string(out[i+30:i+30+nameLen])) {
				patch(i, 30, 26, 14, string(out[i+30:i+30+nameLen]))
			}
		case sigCentral:
			nameLen := int(binary.LittleEndian.Uint16(out[i+28:]))
			if i+46+nameLen <= len(out) && hasKey(crcs, string(out[i+46:i+46+nameLen])) {
				patch(i, 46, 28, 16, string(out[i+46:i+46+nameLen]))
			}
		}
	}
	if !badCRC {
		p := filepath.Join(t.TempDir(), "ae1.zip")
		require.NoError(t, os.WriteFile(p, out, 0o600))
		run(t, t.TempDir(), "7z", "t", "-pright", p)
	}
	return out
}

func hasKey(m map[string]uint32, k string) bool { _, ok := m[k]; return ok }

// TestProcessMixed: an archive of encrypted and plain entries is accepted,
// each output marked Encrypted or not.
func TestProcessMixed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		archive func(t *testing.T) []byte
	}{
		{"7z", func(t *testing.T) []byte {
			archive := filepath.Join(t.TempDir(), "mixed.zip")
			sevenZip(t, archive, nil, file{name: "plain.csv", body: "a\n1\n"})
			sevenZip(t, archive, []string{"-mem=AES256", "-pright"}, file{name: "secret.csv", body: "b\n2\n"})
			b, err := os.ReadFile(archive)
			require.NoError(t, err)
			return b
		}},
		{"alexmullins", func(t *testing.T) []byte {
			return alexZip(t, "right", file{name: "plain.csv", body: "a\n1\n"}, file{name: "secret.csv", body: "b\n2\n", secret: true})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), []string{"right"}, false)
			outs, err := e.stage.Process(t.Context(), e.put(t, tc.archive(t)))
			require.NoError(t, err)
			require.Equal(t, map[string]string{"plain.csv": "a\n1\n", "secret.csv": "b\n2\n"}, e.contents(t, outs))
			enc := map[string]bool{}
			for _, o := range outs {
				enc[o.Name] = o.Encrypted
			}
			require.Equal(t, map[string]bool{"plain.csv": false, "secret.csv": true}, enc)
		})
	}
}

// TestProcessZipCrypto: legacy ZipCrypto, as Info-ZIP's zip -P writes it
// (to a file, and streamed to standard output, which adds data descriptors
// and moves the password check byte to the modification time) and as the
// real 7z writes it (-mem=ZipCrypto), is refused unless the feed allows it,
// and then read.
func TestProcessZipCrypto(t *testing.T) {
	body := csvBody(5000)
	files := []file{{name: "a.csv", body: body}, {name: "b.csv", body: "x\n"}}
	writers := []struct {
		name string
		make func(t *testing.T, switches []string) []byte
	}{
		{"Info-ZIP", func(t *testing.T, switches []string) []byte {
			archive := filepath.Join(t.TempDir(), "zc.zip")
			infoZip(t, archive, switches, files...)
			b, err := os.ReadFile(archive)
			require.NoError(t, err)
			return b
		}},
		{"Info-ZIP streamed", func(t *testing.T, switches []string) []byte {
			need(t, "zip", "zip")
			src := writeFiles(t, files...)
			cmd := exec.Command("zip", append(append([]string{"-q"}, switches...), "-", "a.csv", "b.csv")...)
			cmd.Dir = src
			b, err := cmd.Output()
			require.NoError(t, err)
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			require.NoError(t, err)
			require.NotZero(t, zr.File[0].Flags&flagDescriptor, "streamed entries have data descriptors")
			return b
		}},
		{"7z", func(t *testing.T, switches []string) []byte {
			var sw []string
			for i := 0; i < len(switches); i++ {
				switch switches[i] {
				case "-P":
					sw = append(sw, "-mem=ZipCrypto", "-p"+switches[i+1])
					i++
				case "-0":
					sw = append(sw, "-mm=Copy")
				}
			}
			return sevenZipBytes(t, sw, files...)
		}},
	}
	for _, w := range writers {
		for _, tc := range []struct {
			name      string
			switches  []string // Info-ZIP's
			allow     bool
			passwords []string
			wantErr   error
			wantMsg   string
		}{
			{"refused", []string{"-P", "right"}, false, []string{"right"}, ErrZipCrypto, "re-create it with AES-256 (7-Zip: 7z a -tzip -mem=AES256"},
			{"allowed", []string{"-P", "right"}, true, []string{"nope", "right"}, nil, ""},
			{"allowed stored", []string{"-0", "-P", "right"}, true, []string{"right"}, nil, ""},
			// The entry is not named: a wrong password passes a.csv's
			// check byte once in 256 times, and b.csv's refuses it.
			{"allowed wrong password", []string{"-P", "right"}, true, []string{"nope", "wrong"}, ErrWrongPassword, "none of the account's ZIP passwords opens the entry"},
		} {
			t.Run(w.name+"/"+tc.name, func(t *testing.T) {
				archive := w.make(t, tc.switches)
				e := newEnv(t, DefaultConfig(), tc.passwords, tc.allow)
				outs, err := e.stage.Process(t.Context(), e.put(t, archive))
				if tc.wantErr != nil {
					requireRefused(t, e, err, tc.wantErr, tc.wantMsg)
					require.NotContains(t, err.Error(), "right", "no password in messages")
					return
				}
				require.NoError(t, err)
				require.Equal(t, map[string]string{"a.csv": body, "b.csv": "x\n"}, e.contents(t, outs))
				for _, o := range outs {
					require.True(t, o.Encrypted, o.Name)
				}
			})
		}
	}
}

// requireRefused checks a refusal: permanent, the specific error, the
// message, and nothing left in the blob store.
func requireRefused(t *testing.T, e *env, err error, target error, msg string) {
	t.Helper()
	require.ErrorIs(t, err, target)
	require.True(t, pipeline.IsPermanent(err), "bad input is permanent: %v", err)
	require.ErrorContains(t, err, msg)
	require.ErrorContains(t, err, `unzip "orders.zip": `)
	require.Empty(t, e.outputs(t), "a refused archive leaves nothing behind")
}

// TestProcessSkipsAndNames: folders, __MACOSX/ and .DS_Store are skipped,
// names are cleaned, names in code page 437 decoded.
func TestProcessSkipsAndNames(t *testing.T) {
	archive := plainZip(t,
		file{name: "dir/"},
		file{name: "dir/a.csv", body: "a\n"},
		file{name: "./dir//b.csv", body: "b\n"},
		file{name: "__MACOSX/dir/._a.csv", body: "junk"},
		file{name: ".DS_Store", body: "junk"},
		file{name: "dir/.DS_Store", body: "junk"},
	)
	// A name written by an old Windows zip: "ü.csv" in code page 437
	// (0x81), without the UTF-8 flag.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "\x81.csv", Method: zip.Deflate, NonUTF8: true})
	require.NoError(t, err)
	_, err = w.Write([]byte("u\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	for _, tc := range []struct {
		name    string
		archive []byte
		want    map[string]string
	}{
		{"skips and cleans", archive, map[string]string{"dir/a.csv": "a\n", "dir/b.csv": "b\n"}},
		{"code page 437", buf.Bytes(), map[string]string{"ü.csv": "u\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), nil, false)
			outs, err := e.stage.Process(t.Context(), e.put(t, tc.archive))
			require.NoError(t, err)
			require.Equal(t, tc.want, e.contents(t, outs))
		})
	}
}

// TestProcessCarriesInput: the outputs inherit the chain, the signer and
// the encryption of the input.
func TestProcessCarriesInput(t *testing.T) {
	e := newEnv(t, DefaultConfig(), nil, false)
	in := e.put(t, plainZip(t, file{name: "a.csv", body: "a\n"}))
	in.Chain, in.Encrypted, in.Signer = []string{"pgp"}, true, "ABCD"
	outs, err := e.stage.Process(t.Context(), in)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.Equal(t, []string{"pgp", "zip"}, outs[0].Chain)
	require.Equal(t, []string{"pgp"}, in.Chain, "the input's chain is not modified")
	require.True(t, outs[0].Encrypted)
	require.Equal(t, "ABCD", outs[0].Signer)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"total", func(c *Config) { c.MaxTotalBytes = 0 }, "pipeline.unzip.max_total_bytes"},
		{"ratio", func(c *Config) { c.MaxRatio = 0 }, "pipeline.unzip.max_ratio"},
		{"entries", func(c *Config) { c.MaxEntries = -1 }, "pipeline.unzip.max_entries"},
		{"nesting", func(c *Config) { c.MaxNesting = 0 }, "pipeline.unzip.max_nesting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.modify(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			_, err = New(c, nil, nil, nil, slog.New(slog.DiscardHandler))
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := New(DefaultConfig(), nil, staticPasswords(nil), staticPolicy(false), slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "required")
}
