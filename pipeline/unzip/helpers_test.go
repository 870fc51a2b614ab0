package unzip

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	azip "github.com/alexmullins/zip"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
)

// staticPasswords is the account's ZIP passwords.
type staticPasswords []string

func (p staticPasswords) Passwords(context.Context, string) ([]string, error) { return p, nil }

// staticPolicy is a feed's allow_zipcrypto.
type staticPolicy bool

func (p staticPolicy) AllowZipCrypto(context.Context, string, string) (bool, error) {
	return bool(p), nil
}

// env is a stage on a real blob.Dir in a temporary folder.
type env struct {
	dir   string
	blobs *blob.Dir
	stage *Stage
}

// newEnv returns a stage with cfg, the passwords and the feed's
// allow_zipcrypto.
func newEnv(t testing.TB, cfg Config, passwords []string, allowZipCrypto bool) *env {
	t.Helper()
	dir := t.TempDir()
	d, err := blob.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	s, err := New(cfg, d, staticPasswords(passwords), staticPolicy(allowZipCrypto), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return &env{dir: dir, blobs: d, stage: s}
}

const inputKey = "01JUPLOAD/in.zip"

// input is the Object of the archive stored by put.
func input() pipeline.Object {
	return pipeline.Object{
		ID: "01JUPLOAD", UploadID: "01JUPLOAD", Account: "acme", Feed: "orders",
		Name: "orders.zip", Key: inputKey,
	}
}

// put stores the archive as the input blob.
func (e *env) put(t testing.TB, archive []byte) pipeline.Object {
	t.Helper()
	w, err := e.blobs.Create(t.Context(), inputKey)
	require.NoError(t, err)
	_, err = w.Write(archive)
	require.NoError(t, err)
	require.NoError(t, w.Commit())
	in := input()
	in.Size = int64(len(archive))
	return in
}

// putFile stores the archive file at path as the input blob.
func (e *env) putFile(t testing.TB, path string) pipeline.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return e.put(t, b)
}

// read returns the content of a blob.
func (e *env) read(t testing.TB, key string) string {
	t.Helper()
	r, err := e.blobs.Open(t.Context(), key)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

// outputs lists the files of the blob folder other than the input,
// temporary files included: what a refused archive must not leave behind.
func (e *env) outputs(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(e.dir, path)
		if filepath.ToSlash(rel) != inputKey {
			files = append(files, rel)
		}
		return nil
	})
	require.NoError(t, err)
	return files
}

// file is one entry of an archive made by a test.
type file struct {
	name   string
	body   string
	store  bool        // store rather than deflate
	mode   fs.FileMode // 0: a regular 0644 file
	secret bool        // encrypted (alexmullins writer only)
}

// plainZip makes an archive with archive/zip.
func plainZip(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
		if f.store {
			h.Method = zip.Store
		}
		if f.mode != 0 {
			h.SetMode(f.mode)
		}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = io.WriteString(w, f.body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// alexZip makes an archive with github.com/alexmullins/zip, an independent
// WinZip AES writer (AE-2, AES-256, deflate): secret files encrypted with
// password, the others plain.
func alexZip(t testing.TB, password string, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := azip.NewWriter(&buf)
	for _, f := range files {
		var w io.Writer
		var err error
		if f.secret {
			w, err = zw.Encrypt(f.name, password)
		} else {
			w, err = zw.Create(f.name)
		}
		require.NoError(t, err)
		_, err = io.WriteString(w, f.body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// need skips the test when tool is not installed.
func need(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", tool, pkg)
	}
}

// writeFiles writes files into a fresh folder and returns it.
func writeFiles(t testing.TB, files ...file) string {
	t.Helper()
	src := t.TempDir()
	for _, f := range files {
		p := filepath.Join(src, filepath.FromSlash(f.name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(f.body), 0o644))
	}
	return src
}

// run runs a command in dir and fails the test on error.
func run(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}

// sevenZip makes an archive with the real 7z: -tzip, then the extra
// switches (e.g. -mem=AES256, -ppassword, -mm=Copy). It adds to archive
// when it exists, which makes mixed archives.
func sevenZip(t testing.TB, archive string, switches []string, files ...file) {
	t.Helper()
	need(t, "7z", "p7zip-full")
	src := writeFiles(t, files...)
	args := append([]string{"a", "-tzip", "-bd", "-bso0"}, switches...)
	args = append(args, archive)
	for _, f := range files {
		args = append(args, f.name)
	}
	run(t, src, "7z", args...)
}

// infoZip makes an archive with Info-ZIP's zip, whose -P encrypts with
// ZipCrypto.
func infoZip(t testing.TB, archive string, switches []string, files ...file) {
	t.Helper()
	need(t, "zip", "zip")
	src := writeFiles(t, files...)
	args := append([]string{"-q"}, switches...)
	args = append(args, archive)
	for _, f := range files {
		args = append(args, f.name)
	}
	run(t, src, "zip", args...)
}

// names returns the Names of objects.
func names(objs []pipeline.Object) []string {
	var n []string
	for _, o := range objs {
		n = append(n, o.Name)
	}
	return n
}

// contents maps the Names of objects to their content.
func (e *env) contents(t testing.TB, objs []pipeline.Object) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, o := range objs {
		m[o.Name] = e.read(t, o.Key)
		require.Equal(t, o.Key, o.UploadID+"/"+o.ID)
		require.Equal(t, pipeline.ChildID("01JUPLOAD", "zip", o.Name), o.ID)
		require.Equal(t, "01JUPLOAD", o.ParentID)
		require.Equal(t, int64(len(m[o.Name])), o.Size)
		require.True(t, slices.Equal([]string{"zip"}, o.Chain), "chain %v", o.Chain)
	}
	return m
}

// csvBody is a small CSV that deflates well.
func csvBody(rows int) string {
	var b strings.Builder
	b.WriteString("id,name,amount\n")
	for i := range rows {
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(",customer ")
		b.WriteString(strings.Repeat("y", i%13))
		b.WriteString(",12.50\n")
	}
	return b.String()
}
