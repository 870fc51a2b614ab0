package blob

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Objects is a Store in a JetStream Object Store bucket, shared by every
// node connected to the NATS cluster: blob "a/b" is the object named "a/b".
// Writers stream into the bucket and readers stream out of it, chunk by
// chunk, so neither holds more than a few chunks in memory whatever the
// blob's size. Readers are also io.ReaderAt with a Stat method, the random
// access unzip needs. A committed blob is as durable as the pipeline's
// messages: stored by a majority of the bucket's replicas and synced to
// disk as the servers' sync_interval says. Objects is safe for concurrent
// use.
//
// Beyond the jetstream.ObjectStore API, Objects relies on the bucket's
// layout, which every NATS client shares (ADR-20): stream OBJ_<bucket>, the
// chunks of an object on $O.<bucket>.C.<nuid>, its metadata on
// $O.<bucket>.M.<base64url(name)>.
type Objects struct {
	js     jetstream.JetStream
	obs    jetstream.ObjectStore
	stream jetstream.Stream
	api    string // the JetStream API's subject prefix
	cfg    ObjectsConfig
}

var (
	_ Store    = (*Objects)(nil)
	_ Importer = (*Objects)(nil)
)

// Per-attempt timeout and back-off of OpenObjects: a JetStream API request
// sent before a cluster has elected its meta leader gets no answer at all,
// so a short attempt followed by another beats one long wait (as
// broker.EnsureStream does).
const (
	openAttemptTimeout = 3 * time.Second
	openMinBackoff     = 100 * time.Millisecond
	openMaxBackoff     = 2 * time.Second
)

// OpenObjects returns an Objects store on the bucket cfg names, creating the
// bucket or updating it to cfg; calling it again with the same cfg changes
// nothing. It retries with short per-attempt timeouts while the cluster
// elects its leaders, until it succeeds or ctx ends, and gives up at once
// on an error the server will repeat (replicas without a cluster, a storage
// type change). It blocks until then; pass a ctx with a deadline to bound
// the wait.
//
// js's connection should fail publishes at once while disconnected
// (nats.ReconnectBufSize(-1), as broker's does): with a reconnect buffer, a
// Commit that failed while the connection was down can still land when it
// comes back, and the blob appear after all.
func OpenObjects(ctx context.Context, js jetstream.JetStream, cfg ObjectsConfig) (*Objects, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if js == nil {
		return nil, errors.New("objects: a JetStream context is required")
	}
	if limit := js.Conn().MaxPayload(); limit > 0 && int64(cfg.ChunkSize) > limit {
		return nil, fmt.Errorf("objects: chunk size %d is above the server's max_payload %d", cfg.ChunkSize, limit)
	}
	backoff := openMinBackoff
	var last error
	for {
		o, err := openObjects(ctx, js, cfg)
		if err == nil {
			return o, nil
		}
		if permanent(err) {
			return nil, fmt.Errorf("open object store %q: %w", cfg.Bucket, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open object store %q: %w (last attempt: %w)", cfg.Bucket, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, openMaxBackoff)
	}
}

func openObjects(ctx context.Context, js jetstream.JetStream, cfg ObjectsConfig) (*Objects, error) {
	actx, cancel := context.WithTimeout(ctx, openAttemptTimeout)
	defer cancel()
	obs, err := js.CreateOrUpdateObjectStore(actx, jetstream.ObjectStoreConfig{
		Bucket:      cfg.Bucket,
		Description: "Sluice blobs: uploads, their outputs and reports",
		Storage:     cfg.Storage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(actx, "OBJ_"+cfg.Bucket)
	if err != nil {
		return nil, err
	}
	api := jetstream.DefaultAPIPrefix
	switch opts := js.Options(); {
	case opts.Domain != "":
		api = "$JS." + opts.Domain + ".API."
	case opts.APIPrefix != "":
		api = strings.TrimSuffix(opts.APIPrefix, ".") + "."
	}
	return &Objects{js: js, obs: obs, stream: stream, api: api, cfg: cfg}, nil
}

// JetStream API error codes that a retry cannot fix (nats-server's
// errors.json).
const (
	errCodeInvalidConfig        = 10052 // e.g. a storage type change
	errCodeLimits               = 10053 // e.g. the account's stream limit
	errCodeReplicasNotSupported = 10074 // replicas > 1 without a cluster
)

// permanent reports whether err is an answer the server will give again.
func permanent(err error) bool {
	if errors.Is(err, jetstream.ErrInvalidStoreName) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeInvalidConfig, errCodeLimits, errCodeReplicasNotSupported:
		return true
	}
	return apiErr.Code == 400
}

// Subjects of the bucket's stream (ADR-20).
func (o *Objects) chunkSubject(nuid string) string { return "$O." + o.cfg.Bucket + ".C." + nuid }
func (o *Objects) metaSubject(name string) string {
	return "$O." + o.cfg.Bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}

// Open opens blob key for reading: a missing key is an error wrapping
// fs.ErrNotExist. The reader reads the blob as it was when Open returned;
// it fails if the blob is replaced or removed meanwhile. It reads with ctx,
// which must last until the reader is closed. Open blocks on one request to
// the server; the reader is not safe for concurrent use except ReadAt.
func (o *Objects) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	info, _, err := o.getInfo(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open blob %q: %w", key, err)
	}
	return newObjectReader(ctx, o, key, info), nil
}

// getInfo returns the metadata of object key and its stream sequence; a
// missing or deleted object is an error wrapping fs.ErrNotExist.
func (o *Objects) getInfo(ctx context.Context, key string) (*jetstream.ObjectInfo, uint64, error) {
	m, err := o.get(ctx, msgGet{LastFor: o.metaSubject(key)})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, fs.ErrNotExist
	}
	if err != nil {
		return nil, 0, err
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", jetstream.ErrBadObjectMeta, err)
	}
	if info.Deleted {
		return nil, 0, fs.ErrNotExist
	}
	info.ModTime = m.Time
	return &info, m.Sequence, nil
}

// Remove deletes blob key and its chunks; a missing key is not an error. It
// blocks on a few requests to the server.
func (o *Objects) Remove(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return o.remove(ctx, key)
}

func (o *Objects) remove(ctx context.Context, key string) error {
	info, seq, err := o.getInfo(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove blob %q: %w", key, err)
	}
	// The metadata first, up to its sequence only, which leaves a newer
	// object of the same key alone; then the chunks. No delete marker is
	// left behind (ObjectStore.Delete leaves one, forever, which would
	// slow every RemoveAll down).
	_, err = retry(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, o.stream.Purge(ctx, jetstream.WithPurgeSubject(o.metaSubject(key)), jetstream.WithPurgeSequence(seq+1))
	})
	if err != nil {
		return fmt.Errorf("remove blob %q: %w", key, err)
	}
	if info.Chunks == 0 {
		return nil
	}
	_, err = retry(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, o.stream.Purge(ctx, jetstream.WithPurgeSubject(o.chunkSubject(info.NUID)))
	})
	if err != nil {
		return fmt.Errorf("remove blob %q: purge its chunks: %w", key, err)
	}
	return nil
}
