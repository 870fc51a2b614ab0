package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// objectReader reads one object chunk by chunk with direct gets, which any
// replica answers and which need no consumer. Read streams (each chunk is
// "the next message on the object's chunk subject after the previous one"),
// a goroutine fetching up to two chunks ahead, and checks the object's
// SHA-256 at the end. ReadAt first indexes the chunks (their stream
// sequences and sizes, 16 bytes a chunk, from a headers-only consumer) and
// keeps the two chunks it used last. Neither spools to a file.
type objectReader struct {
	// ctx is Open's: the reader's requests belong to the caller's
	// operation, as an http.Response body belongs to its request.
	ctx  context.Context
	o    *Objects
	key  string
	info *jetstream.ObjectInfo
	subj string

	// Read's state; Read is not safe for concurrent use.
	ahead  chan fetched // chunks read ahead, in order; nil until the first Read
	cancel context.CancelFunc
	done   chan struct{} // closed when the read-ahead goroutine returned
	chunk  []byte        // unread rest of the current chunk
	chunks uint32        // chunks read
	size   uint64        // bytes read
	digest hash.Hash
	err    error // sticky: io.EOF at the end

	// ReadAt's state.
	mu    sync.Mutex
	index []chunkRef  // nil until the first ReadAt
	cache [2]cachedAt // the two chunks fetched last
	tick  int
	shut  bool
}

// chunkRef locates one chunk: its stream sequence and offset in the blob.
type chunkRef struct {
	seq uint64
	off int64
}

// cachedAt is a chunk ReadAt fetched.
type cachedAt struct {
	i    int // chunk number; -1 for none
	data []byte
	used int // tick of last use
}

func newObjectReader(ctx context.Context, o *Objects, key string, info *jetstream.ObjectInfo) *objectReader {
	return &objectReader{
		ctx: ctx, o: o, key: key, info: info, subj: o.chunkSubject(info.NUID),
		digest: sha256.New(), cache: [2]cachedAt{{i: -1}, {i: -1}},
	}
}

// errChanged is the error of a reader whose blob lost chunks.
func (r *objectReader) errChanged(what string) error {
	return fmt.Errorf("read blob %q: %s: the blob was replaced or removed while being read", r.key, what)
}

func (r *objectReader) Read(p []byte) (int, error) {
	for len(r.chunk) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.chunks == r.info.Chunks {
			r.err = r.verify()
			continue
		}
		if r.ahead == nil {
			r.readAhead()
		}
		f := <-r.ahead
		if f.err != nil {
			r.err = f.err
			continue
		}
		m := f.m
		r.chunks++
		r.size += uint64(len(m.Data))
		r.digest.Write(m.Data)
		r.chunk = m.Data
	}
	n := copy(p, r.chunk)
	r.chunk = r.chunk[n:]
	return n, nil
}

// fetched is a chunk read ahead, or why it could not be.
type fetched struct {
	m   *jetstream.RawStreamMsg
	err error
}

// readAhead starts a goroutine that fetches the object's chunks in order,
// one ahead of the one Read returns: the next chunk travels while the
// caller works on the current one. Close stops it and waits for it.
func (r *objectReader) readAhead() {
	ctx, cancel := context.WithCancel(r.ctx)
	r.ahead, r.cancel, r.done = make(chan fetched, 1), cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		seq := uint64(1)
		for i := range r.info.Chunks {
			m, err := r.get(ctx, seq, true, i)
			select {
			case r.ahead <- fetched{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			seq = m.Sequence + 1
		}
	}()
}

// verify checks what Read read against the object's size and digest.
func (r *objectReader) verify() error {
	if r.size != r.info.Size {
		return fmt.Errorf("read blob %q: %d bytes, not %d: %w", r.key, r.size, r.info.Size, io.ErrUnexpectedEOF)
	}
	want, err := jetstream.DecodeObjectDigest(r.info.Digest)
	if err != nil || string(want) != string(r.digest.Sum(nil)) {
		return fmt.Errorf("read blob %q: its SHA-256 does not match its metadata", r.key)
	}
	return io.EOF
}

// get fetches chunk i at sequence seq, or with next the first chunk at
// or after seq.
func (r *objectReader) get(ctx context.Context, seq uint64, next bool, i uint32) (*jetstream.RawStreamMsg, error) {
	req := msgGet{Seq: seq}
	if next {
		req.NextFor = r.subj
	}
	m, err := r.o.get(ctx, req)
	switch {
	case err == nil && m.Subject != r.subj:
		return nil, r.errChanged("a chunk is missing") // never: sequences are not reused
	case err == nil:
		return m, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, r.errChanged(fmt.Sprintf("chunk %d of %d is missing", i+1, r.info.Chunks))
	}
	return nil, fmt.Errorf("read blob %q: %w", r.key, err)
}

// ReadAt reads len(p) bytes at off; it is safe for concurrent use (the
// calls take turns).
func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read blob %q: negative offset", r.key)
	}
	size := int64(r.info.Size)
	if off >= size {
		return 0, io.EOF
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return 0, fs.ErrClosed
	}
	if r.index == nil {
		if err := r.buildIndex(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) && off < size {
		i := sort.Search(len(r.index), func(i int) bool { return r.index[i].off > off }) - 1
		data, err := r.chunkAt(i)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], data[off-r.index[i].off:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// buildIndex reads the headers of the object's chunks: their sequences and
// sizes. It holds 16 bytes per chunk.
func (r *objectReader) buildIndex() error {
	index := make([]chunkRef, 0, r.info.Chunks)
	var off int64
	err := r.o.scan(r.ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{r.subj}, DeliverPolicy: jetstream.DeliverAllPolicy, HeadersOnly: true,
	}, func(m jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
		n, err := strconv.ParseInt(m.Headers().Get(nats.MsgSize), 10, 64)
		if err != nil {
			return false, fmt.Errorf("chunk %d has no size: %w", md.Sequence.Stream, err)
		}
		index = append(index, chunkRef{seq: md.Sequence.Stream, off: off})
		off += n
		return len(index) < int(r.info.Chunks), nil
	})
	if err != nil {
		return fmt.Errorf("read blob %q: index its chunks: %w", r.key, err)
	}
	if len(index) != int(r.info.Chunks) || off != int64(r.info.Size) {
		return r.errChanged(fmt.Sprintf("%d chunks of %d bytes, not %d of %d", len(index), off, r.info.Chunks, r.info.Size))
	}
	r.index = index
	return nil
}

// chunkAt returns chunk i, from the cache or the server.
func (r *objectReader) chunkAt(i int) ([]byte, error) {
	r.tick++
	lru := 0
	for c := range r.cache {
		if r.cache[c].i == i {
			r.cache[c].used = r.tick
			return r.cache[c].data, nil
		}
		if r.cache[c].used < r.cache[lru].used {
			lru = c
		}
	}
	m, err := r.get(r.ctx, r.index[i].seq, false, uint32(i))
	if err != nil {
		return nil, err
	}
	want := int64(r.info.Size) - r.index[i].off
	if i+1 < len(r.index) {
		want = r.index[i+1].off - r.index[i].off
	}
	if int64(len(m.Data)) != want {
		return nil, r.errChanged(fmt.Sprintf("chunk %d has %d bytes, not %d", i, len(m.Data), want))
	}
	r.cache[lru] = cachedAt{i: i, data: m.Data, used: r.tick}
	return m.Data, nil
}

// Stat returns the blob's size and modification time (unzip needs the
// size).
func (r *objectReader) Stat() (fs.FileInfo, error) {
	return objectInfo{name: path.Base(r.key), size: int64(r.info.Size), mod: r.info.ModTime}, nil
}

// Close stops the read-ahead and releases the chunks the reader holds.
func (r *objectReader) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
	r.mu.Lock()
	r.cache = [2]cachedAt{{i: -1}, {i: -1}}
	r.index, r.shut = nil, true
	r.mu.Unlock()
	r.chunk, r.err = nil, fs.ErrClosed
	return nil
}

// objectInfo is an object as an fs.FileInfo.
type objectInfo struct {
	name string
	size int64
	mod  time.Time
}

func (fi objectInfo) Name() string       { return fi.name }
func (fi objectInfo) Size() int64        { return fi.size }
func (fi objectInfo) Mode() fs.FileMode  { return 0o400 }
func (fi objectInfo) ModTime() time.Time { return fi.mod }
func (fi objectInfo) IsDir() bool        { return false }
func (fi objectInfo) Sys() any           { return nil }
