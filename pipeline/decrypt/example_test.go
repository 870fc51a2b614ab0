package decrypt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/decrypt"
)

// keys gives every account the same key.
type keys struct{ account openpgp.EntityList }

func (k keys) DecryptionKeys(context.Context, string) (openpgp.EntityList, error) {
	return k.account, nil
}

func (k keys) VerificationKeys(context.Context, string) (openpgp.EntityList, error) {
	return nil, nil
}

// noSignatures requires no signature of any feed.
type noSignatures struct{}

func (noSignatures) RequireSignature(context.Context, string, string) (bool, error) {
	return false, nil
}

func ExampleStage_Process() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "blobs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	blobs, err := blob.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer blobs.Close()

	// The account's key, and a file a customer encrypted to it.
	key, err := openpgp.NewEntity("Acme uploads", "", "uploads@acme.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		log.Fatal(err)
	}
	var msg bytes.Buffer
	w, err := openpgp.Encrypt(&msg, []*openpgp.Entity{key}, nil, nil, &openpgp.FileHints{FileName: "orders.csv"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(w, "id,name\n1,alpha\n")
	w.Close()
	bw, err := blobs.Create(ctx, "01JUPLOAD/orders.csv.gpg")
	if err != nil {
		log.Fatal(err)
	}
	bw.Write(msg.Bytes())
	if err := bw.Commit(); err != nil {
		log.Fatal(err)
	}

	stage, err := decrypt.New(decrypt.DefaultConfig(), blobs, keys{openpgp.EntityList{key}}, noSignatures{}, slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	outs, err := stage.Process(ctx, pipeline.Object{
		ID: "01JUPLOAD", UploadID: "01JUPLOAD", Account: "acme", Feed: "orders",
		Name: "orders.csv.gpg", Key: "01JUPLOAD/orders.csv.gpg",
	})
	if err != nil {
		log.Fatal(err)
	}
	rc, err := blobs.Open(ctx, outs[0].Key)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	content, _ := io.ReadAll(rc)
	fmt.Println(outs[0].Name, outs[0].Chain, outs[0].Encrypted)
	fmt.Print(string(content))
	// Output:
	// orders.csv [pgp] true
	// id,name
	// 1,alpha
}
