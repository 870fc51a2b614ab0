// Package blobtest has test helpers around the blob stores.
package blobtest

import (
	"context"
	"sync/atomic"

	"github.com/sluicehq/sluice/blob"
)

// Counting is a real blob.Dir that counts the bytes written through its
// writers, committed or aborted: what an input cost the disk (a bomb's
// refusal must come before gigabytes are written). It is safe for
// concurrent use.
type Counting struct {
	*blob.Dir
	written atomic.Int64
}

// Written returns the bytes written so far.
func (c *Counting) Written() int64 { return c.written.Load() }

// Create starts a counted writer of blob key.
func (c *Counting) Create(ctx context.Context, key string) (blob.Writer, error) {
	w, err := c.Dir.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	return &countingWriter{Writer: w, n: &c.written}, nil
}

type countingWriter struct {
	blob.Writer
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.n.Add(int64(n))
	return n, err
}
