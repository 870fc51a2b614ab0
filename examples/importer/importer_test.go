package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

const testToken = "importer-test-token-0123456789abcdef"

// startJetStream runs a real nats-server with JetStream in the test process
// and returns a JetStream context on it, with Sluice's events stream.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server ready")
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateOrUpdateStream(t.Context(), pipeline.EventStreamConfig(pipeline.DefaultEventsConfig()))
	require.NoError(t, err)
	return js
}

// contentAPI stands in for the admin API's GET /api/v1/files/{id}/content:
// it serves content for fileID to the test token, after answering failures
// times with 503.
type contentAPI struct {
	fileID   string
	content  []byte
	failures int32
	requests atomic.Int32
}

func (a *contentAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.requests.Add(1)
	switch {
	case r.Header.Get("Authorization") != "Bearer "+testToken:
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	case r.Method != http.MethodGet || r.URL.Path != pipeline.ContentURL(a.fileID):
		http.NotFound(w, r)
	case n <= a.failures:
		http.Error(w, "busy", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		_, _ = w.Write(a.content)
	}
}

// readyEvent returns the ready event of a file with content, as the runner
// publishes it.
func readyEvent(t *testing.T, fileID string, content []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(content)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ev, err := pipeline.NewEvent(fileID+".ready", "/sluice/test", pipeline.TypeReady, "/orders/orders.zip.pgp", at, pipeline.FileData{
		UploadID: "01JUPLOAD0000000000000000", FileID: fileID, Attempt: 1, Account: "acme", Feed: "orders",
		UploadName: "orders.zip.pgp", Path: "/orders/orders.zip.pgp", FileName: "orders.csv", Chain: []string{"pgp", "zip", "csv"},
		Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Rows: 2, Columns: []string{"id", "email"},
		ContentURL: pipeline.ContentURL(fileID), ReportURL: pipeline.ReportURL("01JUPLOAD0000000000000000"), ReceivedAt: at,
	})
	require.NoError(t, err)
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	return body
}

func TestImporter(t *testing.T) {
	const fileID = "0a1b2c3d4e5f60718293a4b5"
	content := []byte("id,email\n1,a@example.com\n2,b@example.com\n")
	tests := []struct {
		name         string
		body         []byte // the event; nil: a ready event of content
		failures     int32  // 503s before the content
		wantFile     bool
		wantRequests int32
	}{
		{name: "ready file lands, then the event is acked", wantFile: true, wantRequests: 1},
		{name: "HTTP errors are retried after a delay", failures: 2, wantFile: true, wantRequests: 3},
		{name: "an event that is not a ready event is terminated", body: []byte(`{"specversion":"1.0","type":"dev.sluice.file.received","id":"x","data":{}}`)},
		{name: "an event that is not JSON is terminated", body: []byte("not json")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := startJetStream(t)
			api := &contentAPI{fileID: fileID, content: content, failures: tc.failures}
			hs := httptest.NewServer(api)
			t.Cleanup(hs.Close)
			out := t.TempDir()

			body := tc.body
			if body == nil {
				body = readyEvent(t, fileID, content)
			}
			msg := nats.NewMsg(pipeline.OutcomeSubject(pipeline.SubjectReady, "acme", "orders"))
			msg.Data = body
			msg.Header.Set("Content-Type", pipeline.ContentTypeCloudEvents)
			_, err := js.PublishMsg(t.Context(), msg, jetstream.WithMsgID(fileID+".ready"))
			require.NoError(t, err)

			cfg := DefaultConfig()
			cfg.API, cfg.Token, cfg.OutDir, cfg.Durable = hs.URL, testToken, out, "test-importer"
			cfg.RetryDelay = 20 * time.Millisecond
			imp, err := New(t.Context(), cfg, js, hs.Client(), slog.New(slog.NewTextHandler(t.Output(), nil)))
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- imp.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				select {
				case err := <-done:
					require.NoError(t, err)
				case <-time.After(10 * time.Second):
					t.Error("Run did not return after cancel")
				}
			})

			// Acked or terminated: nothing pending, the ack floor past the event.
			cons, err := js.Consumer(t.Context(), pipeline.EventsStream, "test-importer")
			require.NoError(t, err)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				info, err := cons.Info(t.Context())
				require.NoError(c, err)
				require.Equal(c, uint64(1), info.AckFloor.Stream, "event settled")
				require.Zero(c, info.NumAckPending)
				require.Zero(c, info.NumPending)
			}, 10*time.Second, 5*time.Millisecond)
			require.Equal(t, tc.wantRequests, api.requests.Load(), "content requests")

			got, err := os.ReadFile(filepath.Join(out, fileID+".csv"))
			if !tc.wantFile {
				require.ErrorIs(t, err, os.ErrNotExist)
				return
			}
			require.NoError(t, err)
			require.Equal(t, content, got)
			var ev pipeline.Event
			meta, err := os.ReadFile(filepath.Join(out, fileID+".json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(meta, &ev))
			require.Equal(t, fileID+".ready", ev.ID)
			leftovers, err := filepath.Glob(filepath.Join(out, ".importing-*"))
			require.NoError(t, err)
			require.Empty(t, leftovers, "no temporary file left")
		})
	}
}

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	valid.API, valid.Token, valid.OutDir, valid.Durable = "http://127.0.0.1:8080", testToken, "out", "imp"
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{name: "valid", change: func(*Config) {}},
		{name: "no token", change: func(c *Config) { c.Token = "" }, wantErr: "token"},
		{name: "API without scheme", change: func(c *Config) { c.API = "127.0.0.1:8080" }, wantErr: "api"},
		{name: "no output folder", change: func(c *Config) { c.OutDir = "" }, wantErr: "out"},
		{name: "durable with a dot", change: func(c *Config) { c.Durable = "a.b" }, wantErr: "durable"},
		{name: "subject outside ready events", change: func(c *Config) { c.Subject = "sluice.rejected.>" }, wantErr: "subject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
