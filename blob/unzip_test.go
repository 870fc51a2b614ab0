package blob_test

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/unzip"
)

// noPasswords is an account without zip-password credentials.
type noPasswords struct{}

func (noPasswords) Passwords(context.Context, string) ([]string, error) { return nil, nil }

// noZipCrypto is a feed policy refusing ZipCrypto.
type noZipCrypto struct{}

func (noZipCrypto) AllowZipCrypto(context.Context, string, string) (bool, error) { return false, nil }

// TestUnzipOnObjects runs the real unzip stage on an Objects store: its
// readers give unzip the random access it needs (io.ReaderAt and Stat)
// without a temporary file, and its outputs land in the bucket.
func TestUnzipOnObjects(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second))
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cfg := blob.DefaultObjectsConfig()
	cfg.ChunkSize = blob.MinChunkSize // entries span many chunks
	objects, err := blob.OpenObjects(t.Context(), js, cfg)
	require.NoError(t, err)

	// Entries of several chunks each, stored (incompressible) and deflated.
	contents := map[string]string{}
	w, err := objects.Create(t.Context(), "01JUPLOAD/upload")
	require.NoError(t, err)
	zw := zip.NewWriter(w)
	for i := range 6 {
		name := fmt.Sprintf("orders/%d.csv", i)
		body := "order_id,amount\n"
		for j := range 1000 * (i + 1) {
			body += fmt.Sprintf("%d,%d.%02d\n", j, j*i, j%100)
		}
		contents[name] = body
		method := zip.Deflate
		if i%2 == 1 {
			method = zip.Store
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		require.NoError(t, err)
		_, err = io.WriteString(f, body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, w.Commit())

	stage, err := unzip.New(unzip.DefaultConfig(), objects, noPasswords{}, noZipCrypto{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	outs, err := stage.Process(t.Context(), pipeline.Object{
		ID: "01JUPLOAD", UploadID: "01JUPLOAD", Account: "acme", Feed: "orders", Name: "orders.zip", Key: "01JUPLOAD/upload",
	})
	require.NoError(t, err)
	require.Len(t, outs, len(contents))
	for _, o := range outs {
		r, err := objects.Open(t.Context(), o.Key)
		require.NoError(t, err)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		r.Close()
		require.Equal(t, contents[o.Name], string(b), o.Name)
		require.EqualValues(t, len(b), o.Size)
	}

	// A truncated archive is bad input, not a read failure.
	w, err = objects.Create(t.Context(), "01JBROKEN/upload")
	require.NoError(t, err)
	_, err = w.Write([]byte("PK\x03\x04 not really a zip"))
	require.NoError(t, err)
	require.NoError(t, w.Commit())
	_, err = stage.Process(t.Context(), pipeline.Object{
		ID: "01JBROKEN", UploadID: "01JBROKEN", Account: "acme", Name: "broken.zip", Key: "01JBROKEN/upload",
	})
	require.ErrorIs(t, err, unzip.ErrTruncated)
	require.True(t, pipeline.IsPermanent(err))
}
