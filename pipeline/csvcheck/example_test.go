package csvcheck_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/csvcheck"
)

// feeds is a csvcheck.Feeds with one feed, DESIGN.md's example.
type feeds struct{}

func (feeds) Feed(_ context.Context, account, name string) (credentials.Feed, error) {
	return credentials.Feed{
		Account: account, Name: name, Path: "/orders", OnError: "skip_rows", MaxErrorRate: 0.5,
		Schema: credentials.Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []credentials.Column{
			{Name: "id", Type: "integer", Required: true, Unique: true},
			{Name: "email", Type: "email"},
			{Name: "amount", Type: "decimal"},
			{Name: "day", Type: "date", Format: "2006-01-02"},
			{Name: "tier", Type: "enum", Values: []string{"gold", "silver"}},
		}},
	}, nil
}

// Example validates an uploaded CSV as the runner does: the input is a blob,
// the output Object refers to the accepted rows and carries the Result.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "csvcheck-example")
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

	w, err := blobs.Create(ctx, "up1/orders.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	io.WriteString(w, "ID;Email;Amount;Day;Tier\r\n1;ann@example.com;12.50;2024-02-29;gold\r\n2;bob;3;2024-03-01;silver\r\n3;cy@example.com;-4;2024-03-02;silver\r\n")
	if err := w.Commit(); err != nil {
		fmt.Println(err)
		return
	}

	stage, err := csvcheck.New(csvcheck.DefaultConfig(), blobs, feeds{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return
	}
	outs, err := stage.Process(ctx, pipeline.Object{ID: "up1", UploadID: "up1", Account: "acme", Feed: "orders",
		Name: "orders.csv", Key: "up1/orders.csv"})
	if err != nil {
		fmt.Println(err)
		return
	}
	out := outs[0]
	fmt.Println("chain:", out.Chain, "accepted:", out.Result.Accepted, "rows:", out.Result.Rows, "rejected:", out.Result.Rejected)
	for _, p := range out.Result.Problems {
		fmt.Printf("line %d, %s %q: %s\n", p.Line, p.Column, p.Value, p.Message)
	}
	r, err := blobs.Open(ctx, out.Key)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	var b strings.Builder
	io.Copy(&b, r)
	fmt.Print(b.String())
	// Output:
	// chain: [csv] accepted: true rows: 2 rejected: 1
	// line 3, email "bob": not an email address of the form name@example.com (no display name, no angle brackets)
	// id,email,amount,day,tier
	// 1,ann@example.com,12.50,2024-02-29,gold
	// 3,cy@example.com,-4,2024-03-02,silver
}
