package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/internal/gnupgtest"
	"github.com/sluicehq/sluice/pipeline"
)

// End-to-end tests of the pipeline through the real `sluice serve`: files
// made by real gpg and 7z, uploaded with OpenSSH sftp, decrypted, extracted
// and validated by the real stages, announced on NATS, read back over SFTP
// and the admin API.

// ordersFeed is DESIGN.md's example feed.
var ordersFeed = map[string]any{
	"path": "/orders", "on_error": "reject_file",
	"schema": map[string]any{"delimiter": "auto", "encoding": "utf-8", "columns": []map[string]any{
		{"name": "id", "type": "integer", "required": true, "unique": true},
		{"name": "email", "type": "email"},
		{"name": "amount", "type": "decimal"},
		{"name": "day", "type": "date", "format": "2006-01-02"},
		{"name": "tier", "type": "enum", "values": []string{"gold", "silver"}},
	}},
}

const (
	goodOrders = "id,email,amount,day,tier\r\n1,a@example.com,10.50,2026-11-01,gold\r\n2,b@example.com,3,2026-11-02,silver\r\n"
	badOrders  = "id;email;amount;day;tier\n1;a@example.com;1.5;2026-11-01;gold\n1;b@example.com;2;2026-11-02;silver\n2;not-an-email;x;2026-13-01;bronze\n"
	zipPass    = "zip-Pass-e2e-4471-QwErTy"
)

// uploadView is what the tests read of GET /api/v1/uploads/{id}.
type uploadView struct {
	ID         string `json:"id"`
	Path       string `json:"path"`
	Status     string `json:"status"`
	Attempt    int    `json:"attempt"`
	Error      string `json:"error"`
	FinishedAt string `json:"finished_at"`
	ArchivedAt string `json:"archived_at"`
	DryRun     bool   `json:"dry_run"`
	Files      []struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Status     string   `json:"status"`
		Rows       int64    `json:"rows"`
		Chain      []string `json:"chain"`
		Error      string   `json:"error"`
		ContentURL string   `json:"content_url"`
	} `json:"files"`
}

// outcomes consumes the ready and rejected events of every account.
type outcomes struct {
	mu  sync.Mutex
	evs []pipeline.Event
}

func watchOutcomes(t *testing.T, url string) *outcomes {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var stream jetstream.Stream
	waitUntil(t, 20*time.Second, "the events stream", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		stream, err = js.Stream(ctx, pipeline.EventsStream)
		return err == nil
	})
	cons, err := stream.OrderedConsumer(t.Context(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pipeline.SubjectReady + ".>", pipeline.SubjectRejected + ".>"},
	})
	require.NoError(t, err)
	o := &outcomes{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev pipeline.Event
		if json.Unmarshal(m.Data(), &ev) == nil {
			o.mu.Lock()
			o.evs = append(o.evs, ev)
			o.mu.Unlock()
		}
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return o
}

// of returns the events about upload id.
func (o *outcomes) of(t *testing.T, id string) []pipeline.FileData {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []pipeline.FileData
	for _, ev := range o.evs {
		var d pipeline.FileData
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		if d.UploadID == id {
			out = append(out, d)
		}
	}
	return out
}

// put uploads local as remote with OpenSSH sftp and returns the upload's id.
func (s *sftpServer) putFile(t *testing.T, a account, local, remote string) string {
	t.Helper()
	out, err := s.runSFTP(t, a, byKey, filepath.Dir(local), fmt.Sprintf("put %s %s\n", filepath.Base(local), remote))
	require.NoError(t, err, out)
	var id string
	waitUntil(t, 20*time.Second, "the upload of "+remote, func() bool {
		var list struct {
			Items []uploadView `json:"items"`
		}
		require.NoError(t, json.Unmarshal(s.api(t, http.MethodGet, "/api/v1/uploads?account="+a.name, nil, http.StatusOK), &list))
		for _, u := range list.Items {
			if u.Path == remote {
				id = u.ID
				return true
			}
		}
		return false
	})
	return id
}

// final waits until upload id's attempt is finished and archived.
func (s *sftpServer) final(t *testing.T, id string, attempt int) uploadView {
	t.Helper()
	var u uploadView
	var raw []byte
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		raw = s.api(t, http.MethodGet, "/api/v1/uploads/"+id, nil, http.StatusOK)
		require.NoError(t, json.Unmarshal(raw, &u))
		if u.Attempt == attempt && u.FinishedAt != "" && u.ArchivedAt != "" {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s did not finish attempt %d: %s\nserver log:\n%s", id, attempt, raw, s.logs.String())
		}
	}
}

func writeIn(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestE2EPipeline(t *testing.T) {
	requireTools(t, "sftp", "gpg", "7z")
	s := startSFTPServer(t, map[string]string{"SLUICE_PIPELINE_WORKERS": "2"})
	events := watchOutcomes(t, s.natsURL)
	a := s.newAccount(t, "acme", nil)
	s.api(t, http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed, http.StatusCreated)
	creds := "/api/v1/accounts/acme/credentials"
	s.api(t, http.MethodPost, creds, map[string]any{"name": "pgp", "type": "pgp-private-key", "generate": true}, http.StatusCreated)
	pub := s.api(t, http.MethodGet, creds+"/pgp/public-key", nil, http.StatusOK)
	gpg := gnupgtest.New(t)
	gpg.Must(t, pub, "--import")
	dir := t.TempDir()
	encrypt := func(in string) string {
		gpg.Must(t, nil, "--trust-model", "always", "--recipient", "acme", "--output", in+".pgp", "--encrypt", in)
		return in + ".pgp"
	}

	t.Run("plain csv is ready", func(t *testing.T) {
		id := s.putFile(t, a, writeIn(t, dir, "day1.csv", goodOrders), "/orders/day1.csv")
		u := s.final(t, id, 1)
		require.Equal(t, "ready", u.Status, u.Error)
		evs := events.of(t, id)
		require.Len(t, evs, 1)
		ev := evs[0]
		require.Equal(t, int64(2), ev.Rows)
		require.Equal(t, []string{"id", "email", "amount", "day", "tier"}, ev.Columns)
		require.Equal(t, []string{"csv"}, ev.Chain)
		require.Equal(t, "orders", ev.Feed)
		content := s.api(t, http.MethodGet, ev.ContentURL, nil, http.StatusOK)
		require.Equal(t, strings.ReplaceAll(goodOrders, "\r\n", "\n"), string(content), "normalised: LF line ends")
		require.Equal(t, ev.SHA256, sha256Hex(content))

		// The customer reads the report over SFTP; the original left /orders.
		local := t.TempDir()
		out, err := s.runSFTP(t, a, byKey, local, "get /reports/day1.csv."+id+".json\nls /orders\n")
		require.NoError(t, err, out)
		require.NotContains(t, out, "day1.csv\n", "archived out of the customer's tree")
		var rep pipeline.Report
		b, err := os.ReadFile(filepath.Join(local, "day1.csv."+id+".json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rep))
		require.Equal(t, pipeline.StatusReady, rep.Status)
		require.Equal(t, int64(2), rep.Files[0].Rows)
	})

	t.Run("gpg-encrypted AES zip of two csvs", func(t *testing.T) {
		s.api(t, http.MethodPost, creds, map[string]any{"name": "zip", "type": "zip-password", "password": zipPass}, http.StatusCreated)
		zdir := t.TempDir()
		writeIn(t, zdir, "a.csv", goodOrders)
		writeIn(t, zdir, "b.csv", strings.ReplaceAll(goodOrders, "\r\n", "\n"))
		archive := filepath.Join(dir, "batch.zip")
		out, err := exec.Command("7z", "a", "-tzip", "-mem=AES256", "-p"+zipPass, archive, filepath.Join(zdir, "a.csv"), filepath.Join(zdir, "b.csv")).CombinedOutput()
		require.NoError(t, err, string(out))
		id := s.putFile(t, a, encrypt(archive), "/orders/batch.zip.pgp")
		u := s.final(t, id, 1)
		require.Equal(t, "ready", u.Status, u.Error)
		evs := events.of(t, id)
		require.Len(t, evs, 2)
		for _, ev := range evs {
			require.Equal(t, []string{"pgp", "zip", "csv"}, ev.Chain)
			require.Equal(t, "batch.zip.pgp", ev.UploadName)
			require.Equal(t, int64(2), ev.Rows)
		}
	})

	t.Run("invalid rows are rejected with line numbers", func(t *testing.T) {
		id := s.putFile(t, a, writeIn(t, dir, "bad.csv", badOrders), "/orders/bad.csv")
		u := s.final(t, id, 1)
		require.Equal(t, "rejected", u.Status)
		evs := events.of(t, id)
		require.Len(t, evs, 1)
		require.NotEmpty(t, evs[0].Errors)
		require.Equal(t, int64(3), evs[0].Errors[0].Line, "physical line, header = 1")

		local := t.TempDir()
		out, err := s.runSFTP(t, a, byKey, local, "get /reports/bad.csv."+id+".errors.csv\n")
		require.NoError(t, err, out)
		b, err := os.ReadFile(filepath.Join(local, "bad.csv."+id+".errors.csv"))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "line,column,value,message\n"), string(b))
		require.Contains(t, string(b), "3,id,1,")
		require.Contains(t, string(b), "4,email,not-an-email,")
		apiCSV := s.api(t, http.MethodGet, "/api/v1/uploads/"+id+"/report/errors.csv", nil, http.StatusOK)
		require.Equal(t, string(b), string(apiCSV))
	})

	t.Run("wrong zip password, fixed, retried", func(t *testing.T) {
		zdir := t.TempDir()
		writeIn(t, zdir, "c.csv", goodOrders)
		archive := filepath.Join(dir, "other.zip")
		out, err := exec.Command("7z", "a", "-tzip", "-mem=AES256", "-pAnother-Secret-991", archive, filepath.Join(zdir, "c.csv")).CombinedOutput()
		require.NoError(t, err, string(out))
		id := s.putFile(t, a, archive, "/orders/other.zip")
		u := s.final(t, id, 1)
		require.Equal(t, "rejected", u.Status)
		require.Contains(t, u.Error, "password")

		// The administrator adds the customer's password and retries.
		s.api(t, http.MethodPost, creds, map[string]any{"name": "zip2", "type": "zip-password", "password": "Another-Secret-991"}, http.StatusCreated)
		s.api(t, http.MethodPost, "/api/v1/uploads/"+id+"/retry", nil, http.StatusAccepted)
		u = s.final(t, id, 2)
		require.Equal(t, "ready", u.Status, u.Error)
		evs := events.of(t, id)
		require.Len(t, evs, 2, "the rejection of attempt 1, the ready of attempt 2")
		require.Equal(t, 2, evs[1].Attempt)
		s.api(t, http.MethodPost, "/api/v1/uploads/"+id+"/retry", nil, http.StatusConflict)
	})

	t.Run("dry run announces nothing", func(t *testing.T) {
		out, err := s.runSFTP(t, a, byKey, dir, "-mkdir /_test\nmkdir /_test/orders\n")
		require.NoError(t, err, out)
		id := s.putFile(t, a, writeIn(t, dir, "try.csv", badOrders), "/_test/orders/try.csv")
		u := s.final(t, id, 1)
		require.True(t, u.DryRun)
		require.Equal(t, "rejected", u.Status, "validated against the orders feed")
		require.Empty(t, events.of(t, id))
		var rep pipeline.Report
		require.NoError(t, json.Unmarshal(s.api(t, http.MethodGet, "/api/v1/uploads/"+id+"/report", nil, http.StatusOK), &rep))
		require.True(t, rep.DryRun)
		require.Equal(t, "orders", rep.Feed)
	})
}
