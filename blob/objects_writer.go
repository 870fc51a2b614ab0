package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Create starts writing blob key: the bytes written stream into the bucket
// in chunks as they come, invisible under key until Commit. Cancelling ctx
// before Commit aborts the write. Create does not block; Write blocks until
// the chunk it fills is sent, Commit and Abort until the server answered.
// The writer is not safe for concurrent use.
func (o *Objects) Create(ctx context.Context, key string) (Writer, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &objectWriter{ctx: ctx, key: key, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = o.put(ctx, key, pr)
		pr.CloseWithError(errWriteEnded) // unblocks a Write after a failure
	}()
	w.stop = context.AfterFunc(ctx, func() { pw.CloseWithError(fmt.Errorf("write blob %q: %w", key, ctx.Err())) })
	return w, nil
}

// errWriteEnded is what a Write sees once the object's Put has ended; the
// reason is what Commit returns.
var errWriteEnded = errors.New("the write has ended")

// put stores what r yields as object key. It ignores ctx's cancellation
// (the reader fails instead) so that a failing Put can still purge the
// chunks it sent; the client's default timeout bounds each request.
func (o *Objects) put(ctx context.Context, key string, r io.Reader) error {
	meta := jetstream.ObjectMeta{Name: key, Opts: &jetstream.ObjectMetaOptions{ChunkSize: uint32(o.cfg.ChunkSize)}}
	// Put cuts a chunk from each Read: fill them, however the bytes come.
	if _, err := o.obs.Put(context.WithoutCancel(ctx), meta, fullReader{r}); err != nil {
		return fmt.Errorf("write blob %q: %w", key, err)
	}
	return nil
}

// fullReader fills every buffer it is given unless the stream ends.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// objectWriter pipes the bytes written into an ObjectStore.Put running in a
// goroutine it owns; Commit and Abort wait for it.
type objectWriter struct {
	ctx  context.Context // the Create call's: a writer whose ctx ended never commits
	key  string
	pw   *io.PipeWriter
	stop func() bool
	done chan struct{} // closed when Put returned
	err  error         // Put's error, read after done
	over bool
}

func (w *objectWriter) Write(p []byte) (int, error) {
	if w.over {
		return 0, fmt.Errorf("write blob %q: already committed or aborted", w.key)
	}
	n, err := w.pw.Write(p)
	if errors.Is(err, errWriteEnded) || errors.Is(err, io.ErrClosedPipe) {
		<-w.done
		if w.err != nil {
			return n, w.err
		}
	}
	return n, err
}

// Commit ends the stream and waits until the server stored the object and
// replaced an earlier one of the same key.
func (w *objectWriter) Commit() error {
	if w.over {
		return nil
	}
	w.over = true
	w.stop()
	// The AfterFunc runs asynchronously: a ctx that ended just before
	// Commit must fail the Put here, not race it.
	if err := w.ctx.Err(); err != nil {
		w.pw.CloseWithError(fmt.Errorf("write blob %q: %w", w.key, err))
	} else {
		w.pw.Close()
	}
	<-w.done
	return w.err
}

// errAborted fails the Put of an aborted writer.
var errAborted = errors.New("aborted")

// Abort fails the Put, which purges the chunks it sent, and waits for it.
func (w *objectWriter) Abort() error {
	if w.over {
		return nil
	}
	w.over = true
	w.stop()
	w.pw.CloseWithError(errAborted)
	<-w.done
	return nil
}

// ImportFile streams the local file at path into blob key and returns once
// the object is stored. The file is copied: it may change afterwards.
//
// A put that fails is tried again from the start of the file, with back-off,
// for up to importRetry: a cluster node failing over takes a few seconds,
// and the caller (a closing SFTP client) would rather wait than upload
// again. A put replaces an earlier blob of the key, so a retry is safe.
func (o *Objects) ImportFile(ctx context.Context, key, path string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %q as blob %q: %w", path, key, err)
	}
	defer f.Close()
	deadline := time.Now().Add(importRetry)
	pause := retryBackoff
	for {
		err := o.put(ctx, key, ctxReader{ctx, f})
		if err == nil || ctx.Err() != nil || time.Now().Add(pause).After(deadline) {
			return err
		}
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// importRetry bounds how long ImportFile retries a failed put.
const importRetry = 15 * time.Second

// ctxReader fails once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
