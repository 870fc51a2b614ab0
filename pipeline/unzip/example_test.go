package unzip_test

import (
	"archive/zip"
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/unzip"
)

// passwords is the account's zip-password credentials (none here).
type passwords struct{}

func (passwords) Passwords(context.Context, string) ([]string, error) { return nil, nil }

// policy refuses ZipCrypto for every feed.
type policy struct{}

func (policy) AllowZipCrypto(context.Context, string, string) (bool, error) { return false, nil }

// Example extracts an uploaded archive: each entry becomes an Object of its
// own, stored next to the upload under a key derived from the upload's id.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "unzip-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	blobs, err := blob.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer blobs.Close()

	// The upload, as the intake stored it.
	w, err := blobs.Create(ctx, "01JUPLOAD/upload")
	if err != nil {
		fmt.Println(err)
		return
	}
	zw := zip.NewWriter(w)
	for _, name := range []string{"orders/2026-03.csv", "__MACOSX/orders/._2026-03.csv"} {
		f, _ := zw.Create(name)
		fmt.Fprintln(f, "order_id,amount\n1,12.50")
	}
	if err := zw.Close(); err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Commit(); err != nil {
		fmt.Println(err)
		return
	}

	stage, err := unzip.New(unzip.DefaultConfig(), blobs, passwords{}, policy{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return
	}
	outs, err := stage.Process(ctx, pipeline.Object{
		ID: "01JUPLOAD", UploadID: "01JUPLOAD", Account: "acme", Feed: "orders",
		Name: "march.zip", Key: "01JUPLOAD/upload",
	})
	if err != nil {
		fmt.Println(err, pipeline.IsPermanent(err))
		return
	}
	for _, o := range outs {
		fmt.Println(o.Name, o.Size, o.Chain, o.Key == "01JUPLOAD/"+pipeline.ChildID("01JUPLOAD", "zip", o.Name))
	}
	// Output:
	// orders/2026-03.csv 24 [zip] true
}
