package blob

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{name: "default", change: func(*Config) {}},
		{name: "nats", change: func(c *Config) { c.Driver = DriverNATS }},
		{name: "local ignores the rest", change: func(c *Config) { c.Bucket, c.ChunkSize = "", 0 }},
		{name: "unknown driver", change: func(c *Config) { c.Driver = "s3" }, want: "blob.driver"},
		{name: "empty driver", change: func(c *Config) { c.Driver = "" }, want: "blob.driver"},
		{name: "bad bucket", change: func(c *Config) { c.Driver, c.Bucket = DriverNATS, "a.b" }, want: "blob.bucket"},
		{name: "empty bucket", change: func(c *Config) { c.Driver, c.Bucket = DriverNATS, "" }, want: "blob.bucket"},
		{name: "tiny chunks", change: func(c *Config) { c.Driver, c.ChunkSize = DriverNATS, 100 }, want: "blob.chunk_size"},
		{name: "huge chunks", change: func(c *Config) { c.Driver, c.ChunkSize = DriverNATS, 64<<20 }, want: "blob.chunk_size"},
		{name: "no replicas", change: func(c *Config) { c.Driver, c.Replicas = DriverNATS, 0 }, want: "replicas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				if c.Driver == DriverNATS {
					require.NoError(t, c.ObjectsConfig().Validate())
				}
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOpenObjects(t *testing.T) {
	srv := startServer(t)
	js := connect(t, srv.srv.ClientURL())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	o, err := OpenObjects(ctx, js, DefaultObjectsConfig())
	require.NoError(t, err)
	put(t, o, "up/x", []byte("kept"), 4)
	o2, err := OpenObjects(ctx, js, DefaultObjectsConfig())
	require.NoError(t, err, "opening again changes nothing")
	require.Equal(t, "kept", string(get(t, o2, "up/x")))

	tests := []struct {
		name   string
		change func(*ObjectsConfig)
		want   string
	}{
		{name: "replicas without a cluster", change: func(c *ObjectsConfig) { c.Replicas = 3 }, want: "replicas"},
		{name: "storage change", change: func(c *ObjectsConfig) { c.Storage = jetstream.MemoryStorage }, want: "storage"},
		{name: "chunk above max_payload", change: func(c *ObjectsConfig) { c.ChunkSize = 2 << 20 }, want: "max_payload"},
		{name: "invalid bucket", change: func(c *ObjectsConfig) { c.Bucket = "a b" }, want: "invalid bucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultObjectsConfig()
			tc.change(&cfg)
			started := time.Now()
			_, err := OpenObjects(ctx, js, cfg)
			require.ErrorContains(t, err, tc.want)
			require.NotErrorIs(t, err, context.DeadlineExceeded)
			require.Less(t, time.Since(started), 2*time.Second, "a permanent error is not retried")
		})
	}

	t.Run("retries until ctx ends", func(t *testing.T) {
		// A server without JetStream never answers the API.
		plain := &testServer{t: t}
		plain.start(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
		t.Cleanup(plain.stop)
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		_, err := OpenObjects(ctx, connect(t, plain.srv.ClientURL()), DefaultObjectsConfig())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, `open object store "SLUICE_BLOBS"`)
	})
}

// TestObjectsLayout checks what the bucket holds: full chunks however the
// bytes were written, and nothing once a blob is removed (not even the
// delete marker).
func TestObjectsLayout(t *testing.T) {
	o := newObjects(t, MinChunkSize)
	body := random(10*MinChunkSize+5, 1)
	put(t, o, "up/a", body, 7)
	put(t, o, "up/b", body[:100], 7)
	info, err := o.obs.GetInfo(t.Context(), "up/a")
	require.NoError(t, err)
	require.EqualValues(t, 11, info.Chunks, "full chunks from 7-byte writes")
	chunks, metas := o.messages(t)
	require.Equal(t, 12, chunks)
	require.Equal(t, 2, metas)
	// The leader answers as the replicas do.
	for _, req := range []msgGet{{LastFor: o.metaSubject("up/a")}, {Seq: 1}, {Seq: 1, NextFor: o.chunkSubject(info.NUID)}, {LastFor: "$O.SLUICE_BLOBS.C.>"}} {
		direct, err := o.get(t.Context(), req)
		require.NoError(t, err)
		leader, err := o.leaderGet(t.Context(), req)
		require.NoError(t, err)
		require.Equal(t, direct.Sequence, leader.Sequence)
		require.Equal(t, direct.Subject, leader.Subject)
		require.Equal(t, direct.Data, leader.Data)
		require.True(t, direct.Time.Equal(leader.Time))
	}
	_, err = o.leaderGet(t.Context(), msgGet{LastFor: o.metaSubject("up/none")})
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)

	require.NoError(t, o.Remove(t.Context(), "up/a"))
	chunks, metas = o.messages(t)
	require.Equal(t, 1, chunks)
	require.Equal(t, 1, metas, "no delete marker left")
	require.NoError(t, o.RemoveAll(t.Context(), "up"))
	chunks, metas = o.messages(t)
	require.Zero(t, chunks+metas)
}

// TestObjectsRemoveAllMany checks RemoveAll over more objects than a
// consumer pull holds.
func TestObjectsRemoveAllMany(t *testing.T) {
	o := newObjects(t, MinChunkSize)
	for i := range 600 {
		key := "keep/" + string(rune('a'+i%26)) + "/" + time.Duration(i).String()
		if i%2 == 0 {
			key = "gone/" + time.Duration(i).String()
		}
		put(t, o, key, []byte(key), 100)
	}
	require.NoError(t, o.RemoveAll(t.Context(), "gone"))
	live, err := o.obs.List(t.Context())
	require.NoError(t, err)
	require.Len(t, live, 300)
	for _, info := range live {
		require.Contains(t, info.Name, "keep/")
	}
}

// TestObjectsReaderChanged checks that a reader fails, rather than
// returning other bytes, when its blob is replaced or removed while it
// reads.
func TestObjectsReaderChanged(t *testing.T) {
	o := newObjects(t, MinChunkSize)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T)
	}{
		{name: "replaced", change: func(t *testing.T) { put(t, o, "up/x", random(3*MinChunkSize, 2), 1000) }},
		{name: "removed", change: func(t *testing.T) { require.NoError(t, o.Remove(t.Context(), "up/x")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			put(t, o, "up/x", random(10*MinChunkSize, 1), MinChunkSize)
			r, err := o.Open(t.Context(), "up/x")
			require.NoError(t, err)
			defer r.Close()
			_, err = io.ReadFull(r, make([]byte, MinChunkSize+1))
			require.NoError(t, err)
			tc.change(t)
			_, err = io.ReadAll(r)
			require.ErrorContains(t, err, "replaced or removed while being read")
			_, err = r.(io.ReaderAt).ReadAt(make([]byte, 10), 0)
			require.Error(t, err)
		})
	}
}

// TestObjectsRemoveStale checks that RemoveStale purges the chunks of
// writers that died and nothing else.
func TestObjectsRemoveStale(t *testing.T) {
	for _, batch := range []int{staleBatch, 2} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			o := newObjects(t, MinChunkSize)
			for i := range 3 {
				put(t, o, fmt.Sprintf("up/live%d", i), random(3*MinChunkSize, uint64(i)), 1000)
			}
			put(t, o, "up/empty", nil, 1)
			// What writers that died leave: chunks and no metadata.
			dead := func(nuid string) {
				_, err := o.js.Publish(t.Context(), o.chunkSubject(nuid), random(MinChunkSize, 3))
				require.NoError(t, err)
			}
			for i := range 5 {
				for range 3 {
					dead(fmt.Sprintf("DEAD%d", i))
				}
			}
			dead("SLOWWRITER")
			cutoff := time.Now()
			dead("SLOWWRITER") // a writer at work for longer than StaleAfter
			// A writer at work, younger than the cutoff.
			w, err := o.Create(t.Context(), "up/writing")
			require.NoError(t, err)
			_, err = w.Write(random(3*MinChunkSize+5, 2))
			require.NoError(t, err)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				require.Equal(c, 3+5+1+1, o.chunkSubjects(t))
			}, 5*time.Second, 5*time.Millisecond, "the writer's chunks are stored")

			n, err := o.removeStale(t.Context(), batch)
			require.NoError(t, err)
			require.Zero(t, n, "nothing is older than StaleAfter")

			o.cfg.StaleAfter = time.Since(cutoff)
			n, err = o.removeStale(t.Context(), batch)
			require.NoError(t, err)
			require.Equal(t, 5, n, "the dead writers' chunks")
			require.NoError(t, w.Commit())
			for i := range 3 {
				require.Equal(t, random(3*MinChunkSize, uint64(i)), get(t, o, fmt.Sprintf("up/live%d", i)))
			}
			require.Equal(t, random(3*MinChunkSize+5, 2), get(t, o, "up/writing"))
			require.Empty(t, get(t, o, "up/empty"))
			require.Equal(t, 3+1+1, o.chunkSubjects(t))
		})
	}
}

// TestObjectsServerGoneMidWrite checks that a write cut by the server going
// away fails, leaves no object, and that RemoveStale takes the chunks it
// left behind.
func TestObjectsServerGoneMidWrite(t *testing.T) {
	s := startServer(t)
	nc, err := nats.Connect(s.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(time.Second))
	require.NoError(t, err)
	o, err := OpenObjects(t.Context(), js, ObjectsConfig{
		Bucket: "B", Replicas: 1, ChunkSize: MinChunkSize, Storage: jetstream.FileStorage, StaleAfter: time.Hour,
	})
	require.NoError(t, err)

	w, err := o.Create(t.Context(), "up/x")
	require.NoError(t, err)
	_, err = w.Write(random(3*MinChunkSize, 1))
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		chunks, _ := o.messages(t)
		require.Equal(c, 3, chunks)
	}, 5*time.Second, 5*time.Millisecond, "chunks stored")
	s.stop()
	_, _ = w.Write(random(2*MinChunkSize, 2))
	started := time.Now()
	require.Error(t, w.Commit())
	require.Less(t, time.Since(started), 10*time.Second)
	s.start(s.opts)

	requireMissing(t, o, "up/x")
	require.Equal(t, 1, o.chunkSubjects(t), "the cut write's chunks stay: the purge failed with the server")
	o.cfg.StaleAfter = -time.Minute // every chunk without an object
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := o.RemoveStale(t.Context())
		require.NoError(c, err)
		require.Zero(c, o.chunkSubjects(t))
	}, 10*time.Second, 20*time.Millisecond, "the cut write's chunks purged")
	put(t, o, "up/x", []byte("again"), 5)
	require.Equal(t, "again", string(get(t, o, "up/x")))
}

// clientHeap returns the bytes in use on the heap that the NATS server
// running in the test process did not allocate, from the heap profile
// after a collection: what a node connected to an external server would
// hold.
func clientHeap() uint64 {
	runtime.GC()
	runtime.GC() // the profile lags a cycle behind
	n, _ := runtime.MemProfile(nil, false)
	recs := make([]runtime.MemProfileRecord, n+100)
	n, ok := runtime.MemProfile(recs, false)
	if !ok {
		return 0
	}
	rate := uint64(runtime.MemProfileRate)
	var total uint64
	for _, r := range recs[:n] {
		frames := runtime.CallersFrames(r.Stack())
		server := false
		for {
			f, more := frames.Next()
			if strings.Contains(f.Function, "nats-server/v2/server.") {
				server = true
				break
			}
			if !more {
				break
			}
		}
		if server || r.InUseObjects() == 0 {
			continue
		}
		// Scale the sample as pprof does.
		size := uint64(r.InUseBytes()) / uint64(r.InUseObjects())
		scale := 1 / (1 - math.Exp(-float64(size)/float64(rate)))
		total += uint64(float64(r.InUseBytes()) * scale)
	}
	return total
}

// peakClientHeap samples clientHeap until stop is called and returns its
// highest value above the level when it started.
func peakClientHeap() (stop func() uint64) {
	base := clientHeap()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, clientHeap())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		if peak < base {
			return 0
		}
		return peak - base
	}
}

// TestObjectsLargeBlobBoundedMemory writes and reads a 64 MiB blob in
// 64 KiB steps and checks that the client side never holds more than a few
// chunks of it. The server running in the test process is left out of the
// count (its file store caches blocks of 8 MiB, 8 to 24 MiB here).
func TestObjectsLargeBlobBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 4096
	t.Cleanup(func() { runtime.MemProfileRate = rate })

	const size, step = 64 << 20, 64 << 10
	o := newObjects(t, DefaultChunkSize)
	buf := random(step, 1)
	sum := sha256.New()

	stop := peakClientHeap()
	w, err := o.Create(t.Context(), "up/large")
	require.NoError(t, err)
	for i := 0; i < size/step; i++ {
		buf[0] = byte(i)
		sum.Write(buf)
		_, err := w.Write(buf)
		require.NoError(t, err)
	}
	require.NoError(t, w.Commit())
	wrote := stop()

	stop = peakClientHeap()
	r, err := o.Open(t.Context(), "up/large")
	require.NoError(t, err)
	got := sha256.New()
	n, err := io.CopyBuffer(got, r, make([]byte, step))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	read := stop()

	require.EqualValues(t, size, n)
	require.Equal(t, sum.Sum(nil), got.Sum(nil))
	t.Logf("client heap growth: write %d KiB, read %d KiB (chunk %d KiB)", wrote>>10, read>>10, DefaultChunkSize>>10)
	require.Less(t, wrote, uint64(16*DefaultChunkSize), "writing")
	require.Less(t, read, uint64(16*DefaultChunkSize), "reading")
}

// TestObjectsCluster runs a three-node cluster with the bucket at three
// replicas, shuts down the node leading the bucket's stream, and checks
// that the blobs stay readable and that new ones can be written.
func TestObjectsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := startCluster(t)
	nc, err := nats.Connect(c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cfg := DefaultObjectsConfig()
	cfg.Replicas, cfg.ChunkSize = 3, 64<<10
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	o, err := OpenObjects(ctx, js, cfg) // retries while the cluster elects its leaders
	require.NoError(t, err)

	// Read after write through another node: a replica that lags behind
	// the leader must not make a committed blob look missing (Objects asks
	// the leader when a replica finds nothing; in-process replicas seldom
	// lag, so this guards the path more than it provokes the lag).
	other := nats.DefaultURL
	for _, n := range c.nodes {
		if n.srv.Name() != nc.ConnectedServerName() {
			other = n.srv.ClientURL()
		}
	}
	o2, err := OpenObjects(ctx, connect(t, other), cfg)
	require.NoError(t, err)
	for i := range 50 {
		key := "raw/" + time.Duration(i).String()
		put(t, o, key, random(100<<10, uint64(i)), 100<<10)
		require.Equal(t, random(100<<10, uint64(i)), get(t, o2, key))
		require.NoError(t, o2.Remove(ctx, key))
		requireMissing(t, o, key)
	}

	blobs := map[string][]byte{}
	for i, size := range []int{0, 1, 64 << 10, 1 << 20, 3<<20 + 17} {
		key := "up/" + time.Duration(i).String()
		blobs[key] = random(size, uint64(i))
		put(t, o, key, blobs[key], 32<<10)
	}
	info, err := o.stream.Info(ctx)
	require.NoError(t, err)
	require.Len(t, info.Cluster.Replicas, 2, "three copies")
	leader := info.Cluster.Leader
	t.Logf("stopping %s, the bucket's leader; connected to %s", leader, nc.ConnectedServerName())
	c.node(t, leader).stop()

	// Reads need no leader: the remaining replicas answer them, Objects
	// retrying while the cluster notices the loss.
	for key, body := range blobs {
		require.Equal(t, body, get(t, o, key), "blob %s", key)
		requireReadAt(t, o, key, body)
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		w, err := o.Create(ctx, "up/after")
		require.NoError(ct, err)
		_, err = w.Write(random(200<<10, 9))
		if !assert.NoError(ct, err) {
			_ = w.Abort()
			return
		}
		require.NoError(ct, w.Commit())
	}, 15*time.Second, 50*time.Millisecond, "a new leader takes writes")
	require.Equal(t, random(200<<10, 9), get(t, o, "up/after"))
	require.NoError(t, o.RemoveAll(ctx, "up"))
	requireMissing(t, o, "up/after")
}
