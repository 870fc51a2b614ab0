package blob

import (
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Drivers of Config.Driver.
const (
	// DriverLocal keeps blobs on the local disk (Dir): one node.
	DriverLocal = "local"
	// DriverNATS keeps blobs in a JetStream Object Store bucket (Objects):
	// every node connected to the same NATS cluster shares them.
	DriverNATS = "nats"
)

// Config selects where blobs are stored. Its keys live under blob. in the
// configuration file.
type Config struct {
	// Driver is "local" (the default: a folder in data_dir) or "nats" (a
	// JetStream Object Store bucket, shared by every node of the NATS
	// cluster).
	Driver string `yaml:"driver" koanf:"driver"`
	// Bucket is the Object Store bucket of the nats driver:
	// [A-Za-z0-9_-]+, the same on every node.
	Bucket string `yaml:"bucket" koanf:"bucket"`
	// ChunkSize is the size of the messages a blob is cut into by the nats
	// driver, in bytes: at most the server's max_payload (1 MiB unless
	// changed). Larger chunks write and read faster; every open reader and
	// writer holds about two of them in memory.
	ChunkSize int `yaml:"chunk_size" koanf:"chunk_size"`
	// Replicas is the bucket's number of replicas. cmd sets it to
	// nats.replicas; it is not a configuration key.
	Replicas int `yaml:"-" koanf:"-"`
}

// DefaultConfig returns the configuration of a single node: blobs on the
// local disk.
func DefaultConfig() Config {
	return Config{Driver: DriverLocal, Bucket: DefaultBucket, ChunkSize: DefaultChunkSize, Replicas: 1}
}

// Validate reports the first invalid field of c, naming its key.
func (c Config) Validate() error {
	switch c.Driver {
	case DriverLocal:
		return nil
	case DriverNATS:
	default:
		return fmt.Errorf("blob.driver: must be %q or %q (got %q)", DriverLocal, DriverNATS, c.Driver)
	}
	if !bucketRe.MatchString(c.Bucket) {
		return fmt.Errorf("blob.bucket: must be letters, digits, _ and - (got %q)", c.Bucket)
	}
	if c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize {
		return fmt.Errorf("blob.chunk_size: must be between %d and %d bytes (got %d)", MinChunkSize, MaxChunkSize, c.ChunkSize)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("blob: replicas (nats.replicas) must be between 1 and 5 (got %d)", c.Replicas)
	}
	return nil
}

// ObjectsConfig returns the configuration of the nats driver's bucket.
func (c Config) ObjectsConfig() ObjectsConfig {
	oc := DefaultObjectsConfig()
	oc.Bucket, oc.Replicas, oc.ChunkSize = c.Bucket, c.Replicas, c.ChunkSize
	return oc
}

// Defaults and bounds of the nats driver.
const (
	// DefaultBucket is the default Object Store bucket.
	DefaultBucket = "SLUICE_BLOBS"
	// DefaultChunkSize is the default chunk size: 256 KiB, see
	// BenchmarkStores for the trade-off.
	DefaultChunkSize = 256 << 10
	// MinChunkSize and MaxChunkSize bound the chunk size; the server's
	// max_payload bounds it too (1 MiB by default, 64 MiB at most).
	MinChunkSize = 4 << 10
	MaxChunkSize = 8 << 20
	// DefaultStaleAfter is the default ObjectsConfig.StaleAfter.
	DefaultStaleAfter = time.Hour
)

// bucketRe is what JetStream accepts as an Object Store bucket name.
var bucketRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ObjectsConfig configures an Objects store's bucket.
type ObjectsConfig struct {
	// Bucket is the Object Store bucket; its stream is OBJ_<Bucket>.
	Bucket string
	// Replicas is the number of copies the cluster keeps of every blob.
	Replicas int
	// ChunkSize is the size of the messages blobs are cut into.
	ChunkSize int
	// Storage is where the servers keep the bucket: jetstream.FileStorage
	// (the default; blobs survive a restart) or MemoryStorage (tests).
	Storage jetstream.StorageType
	// StaleAfter is how long the chunks of a blob no committed object refers
	// to are kept before RemoveStale takes them: longer than any writer
	// stays idle between two writes and its Commit.
	StaleAfter time.Duration
}

// DefaultObjectsConfig returns a single-replica file-backed bucket
// DefaultBucket.
func DefaultObjectsConfig() ObjectsConfig {
	return ObjectsConfig{
		Bucket: DefaultBucket, Replicas: 1, ChunkSize: DefaultChunkSize,
		Storage: jetstream.FileStorage, StaleAfter: DefaultStaleAfter,
	}
}

// Validate reports the first invalid field of c.
func (c ObjectsConfig) Validate() error {
	switch {
	case !bucketRe.MatchString(c.Bucket):
		return fmt.Errorf("objects: invalid bucket name %q", c.Bucket)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("objects: replicas must be between 1 and 5 (got %d)", c.Replicas)
	case c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize:
		return fmt.Errorf("objects: chunk size must be between %d and %d bytes (got %d)", MinChunkSize, MaxChunkSize, c.ChunkSize)
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return fmt.Errorf("objects: unknown storage type %d", c.Storage)
	case c.StaleAfter < time.Minute:
		return fmt.Errorf("objects: stale_after must be at least 1m (got %s)", c.StaleAfter)
	}
	return nil
}
