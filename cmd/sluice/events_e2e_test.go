package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

var natsListenAddr = regexp.MustCompile(`embedded nats server started"? .*?listen=(\S+)`)

// receivedEvent is one message of the events stream on an account's
// received subject, as an importer sees it.
type receivedEvent struct {
	MsgID string // Nats-Msg-Id header
	Seq   uint64 // stream sequence
	Event pipeline.Event
	Data  pipeline.ReceivedData
}

// eventLog collects an account's received events from the events stream,
// from its first message on. It is safe for concurrent use.
type eventLog struct {
	subject string
	stream  jetstream.Stream

	mu     sync.Mutex
	events []receivedEvent
	errs   []string
}

// watchEvents connects to the NATS server at url, waits for the events
// stream and consumes account's received events into a log until the test
// ends.
func watchEvents(t *testing.T, url, account string) *eventLog {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	l := &eventLog{subject: pipeline.ReceivedSubject(account)}
	// sluice creates the stream in the background after it starts.
	waitUntil(t, 20*time.Second, "the events stream", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		l.stream, err = js.Stream(ctx, pipeline.EventsStream)
		return err == nil
	})
	cons, err := l.stream.OrderedConsumer(t.Context(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{l.subject},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	require.NoError(t, err)
	cc, err := cons.Consume(l.add)
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return l
}

func (l *eventLog) add(m jetstream.Msg) {
	var ev receivedEvent
	ev.MsgID = m.Headers().Get(jetstream.MsgIDHeader)
	if md, err := m.Metadata(); err == nil {
		ev.Seq = md.Sequence.Stream
	}
	err := json.Unmarshal(m.Data(), &ev.Event)
	if err == nil {
		err = json.Unmarshal(ev.Event.Data, &ev.Data)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs = append(l.errs, fmt.Sprintf("message %d: %v", ev.Seq, err))
		return
	}
	l.events = append(l.events, ev)
}

func (l *eventLog) snapshot() []receivedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]receivedEvent(nil), l.events...)
}

// settle is how long a test watches for further events after it saw the
// number it expected, to tell "exactly n" from "at least n".
const settle = time.Second

// wait waits until n events arrived, then watches for settle more, and
// requires exactly n in the log and stored in the stream. It returns them in
// stream order.
func (l *eventLog) wait(t *testing.T, n int, timeout time.Duration) []receivedEvent {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("%d events on %s", n, l.subject), func() bool { return len(l.snapshot()) >= n })
	return l.none(t, n, settle)
}

// exactly requires that exactly n events are in the log and stored in the
// stream, each a well-formed received event with a unique message id, and
// returns them.
func (l *eventLog) exactly(t *testing.T, n int) []receivedEvent {
	t.Helper()
	l.mu.Lock()
	require.Empty(t, l.errs, "undecodable events")
	l.mu.Unlock()
	got := l.snapshot()
	require.Len(t, got, n, "events on %s", l.subject)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(l.subject))
	require.NoError(t, err)
	require.Equal(t, uint64(n), info.State.Subjects[l.subject], "events stored on %s", l.subject)

	ids := map[string]bool{}
	for _, ev := range got {
		require.Equal(t, pipeline.TypeReceived, ev.Event.Type)
		require.Equal(t, "1.0", ev.Event.SpecVersion)
		require.Equal(t, ev.Data.UploadID, ev.MsgID, "Nats-Msg-Id is the upload id")
		require.Equal(t, ev.Data.UploadID+".received", ev.Event.ID)
		require.Equal(t, ev.Data.Path, ev.Event.Subject)
		require.False(t, ids[ev.MsgID], "upload %s announced twice", ev.MsgID)
		ids[ev.MsgID] = true
	}
	return got
}

// none watches the log for grace, failing as soon as more than n events are
// in it, and then requires exactly n (see exactly) and returns them.
func (l *eventLog) none(t *testing.T, n int, grace time.Duration) []receivedEvent {
	t.Helper()
	for end := time.Now().Add(grace); time.Now().Before(end); {
		if got := l.snapshot(); len(got) > n {
			t.Fatalf("%d events on %s, want %d; the last: %+v", len(got), l.subject, n, got[len(got)-1].Data)
		}
		select {
		case <-t.Context().Done():
			t.Fatal("test ended while watching for events")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return l.exactly(t, n)
}

// requireUpload requires that ev announces the upload of a file at path with
// size bytes and sha256 sum.
func requireUpload(t *testing.T, ev receivedEvent, account, path string, size int64, sum string) {
	t.Helper()
	require.Equal(t, account, ev.Data.Account)
	require.Equal(t, path, ev.Data.Path)
	require.Equal(t, size, ev.Data.Size, "size of %s", path)
	require.Equal(t, sum, ev.Data.SHA256, "sha256 of %s", path)
	require.NotEmpty(t, ev.Data.UploadID)
	require.Contains(t, ev.Data.Remote, "127.0.0.1")
}

// natsServer is an in-process NATS server with JetStream standing for an
// external one, restartable on the same port and store.
type natsServer struct {
	t        *testing.T
	storeDir string
	port     int
	srv      *natsserver.Server
}

// startNATS starts a NATS server with JetStream on a random loopback port
// and a temporary store; the test's cleanup stops it.
func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, storeDir: t.TempDir(), port: -1}
	n.start()
	addr, ok := n.srv.Addr().(*net.TCPAddr)
	require.True(t, ok, "nats server address %v", n.srv.Addr())
	n.port = addr.Port
	t.Cleanup(n.stop)
	return n
}

// url is the server's client URL.
func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start starts the server on its port (a random one the first time) and
// store, and waits until it accepts clients.
func (n *natsServer) start() {
	n.t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "external",
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  true,
		StoreDir:   n.storeDir,
		NoSigs:     true,
		NoLog:      true,
	})
	require.NoError(n.t, err)
	srv.Start()
	require.True(n.t, srv.ReadyForConnections(10*time.Second), "nats server not ready")
	n.srv = srv
}

// stop shuts the server down and waits until it is down. It may be called
// again.
func (n *natsServer) stop() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}
