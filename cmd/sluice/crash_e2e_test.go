package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/pipeline"
)

// process is `sluice serve` as a child process, which a test can kill -9.
type process struct {
	cmd       *exec.Cmd
	admin     string
	sftp      string
	nats      string
	logs      *syncBuffer
	exited    chan struct{}
	exitState *os.ProcessState
}

// startProcess runs bin serve on dataDir and waits until it is ready.
func startProcess(t *testing.T, bin, dataDir string, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SLUICE_DATA_DIR="+dataDir, "SLUICE_ADMIN_LISTEN=127.0.0.1:0", "SLUICE_SFTP_LISTEN=127.0.0.1:0",
		"SLUICE_NATS_LISTEN=127.0.0.1:0", "SLUICE_BOOTSTRAP_TOKEN="+e2eBootstrap)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, p.logs
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		p.exitState = cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for ready := false; !ready; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("sluice serve did not start within 60s:\n%s", p.logs.String())
		}
		ready = func() bool {
			select {
			case <-p.exited:
				t.Fatalf("sluice serve exited:\n%s", p.logs.String())
			default:
			}
			logs := p.logs.String()
			m, sm, nm := listeningAddr.FindStringSubmatch(logs), sftpListeningAddr.FindStringSubmatch(logs), natsListenAddr.FindStringSubmatch(logs)
			if m == nil || sm == nil || (nm == nil && env["SLUICE_NATS_URL"] == "") {
				return false
			}
			resp, err := http.Get("http://" + m[1] + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			p.admin, p.sftp, p.nats = m[1], sm[1], env["SLUICE_NATS_URL"]
			if nm != nil {
				p.nats = "nats://" + nm[1]
			}
			return resp.StatusCode == http.StatusOK
		}()
	}
	return p
}

// kill sends SIGKILL and waits for the process to go.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (p *process) api(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	s := &server{addr: p.admin}
	code, out := s.call(t, e2eBootstrap, method, path, body)
	require.Equal(t, want, code, "%s %s: %s", method, path, out)
	return out
}

// sftpClient logs in as user with the e2e password.
func (p *process) sftpClient(user string) (*sftp.Client, error) {
	conn, err := ssh.Dial("tcp", p.sftp, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.Password(e2ePassword)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// allUploads lists every upload of account.
func (p *process) allUploads(t *testing.T, account string) []uploadView {
	t.Helper()
	var list struct {
		Items []uploadView `json:"items"`
	}
	require.NoError(t, json.Unmarshal(p.api(t, http.MethodGet, "/api/v1/uploads?limit=1000&account="+account, nil, http.StatusOK), &list))
	return list.Items
}

// csvPayloads returns a valid CSV of the orders feed of about size bytes
// (ready) and the same with a bad row (rejected).
func csvPayloads(size int) (good, bad []byte) {
	var b bytes.Buffer
	b.WriteString("id,email,amount,day,tier\n")
	for i := 1; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%d,user%d@example.com,%d.%02d,2026-11-%02d,gold\n", i, i, i%1000, i%100, 1+i%28)
	}
	good = bytes.Clone(b.Bytes())
	b.WriteString("x,not-an-email,1,2026-11-01,bronze\n")
	return good, b.Bytes()
}

// TestE2ECrashRecovery kills `sluice serve` with SIGKILL while uploads
// arrive and the pipeline works on them, restarts it on the same data
// directory and checks DESIGN.md's first non-negotiable: every closed upload
// reaches exactly one final state, every ready or rejected event is
// published once, and no temporary file is left.
func TestE2ECrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	const total = 200
	bin, err := buildSluice()
	require.NoError(t, err)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"SLUICE_PIPELINE_WORKERS": "2", "SLUICE_LOG_LEVEL": "info"}
	p := startProcess(t, bin, dataDir, env)
	p.api(t, http.MethodPost, "/api/v1/accounts", map[string]any{"name": "acme"}, http.StatusCreated)
	p.api(t, http.MethodPost, "/api/v1/accounts/acme/credentials", map[string]any{"name": "login", "type": "password", "password": e2ePassword}, http.StatusCreated)
	p.api(t, http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed, http.StatusCreated)
	good, bad := csvPayloads(1 << 20)

	// Four sessions upload until the total is recorded; the server is
	// killed once the pipeline finished some of them and while uploads
	// and tasks are in flight.
	var (
		next    atomic.Int64
		killed  atomic.Bool
		sending sync.WaitGroup
	)
	upload := func(p *process) {
		c, err := p.sftpClient("acme")
		if err != nil {
			return
		}
		defer c.Close()
		for {
			i := next.Add(1)
			if i > total*2 || killed.Load() {
				return
			}
			body := good
			if i%7 == 0 {
				body = bad
			}
			if err := put(c, fmt.Sprintf("/orders/f%04d.csv", i), body); err != nil {
				return
			}
		}
	}
	for range 4 {
		sending.Go(func() { upload(p) })
	}
	waitUntil(t, 120*time.Second, "some uploads to finish", func() bool {
		n := 0
		for _, u := range p.allUploads(t, "acme") {
			if u.FinishedAt != "" {
				n++
			}
		}
		return n >= 20
	})
	killed.Store(true)
	p.kill()
	sending.Wait()
	require.Equal(t, -1, p.exitState.ExitCode(), "killed by a signal")

	p = startProcess(t, bin, dataDir, env)
	recorded := len(p.allUploads(t, "acme"))
	t.Logf("%d uploads recorded before the kill", recorded)
	require.Less(t, recorded, total, "the kill came before all uploads")
	// The rest arrive after the restart.
	c, err := p.sftpClient("acme")
	require.NoError(t, err, p.logs.String())
	for n := recorded; n < total; n++ {
		i := next.Add(1)
		require.NoError(t, put(c, fmt.Sprintf("/orders/f%04d.csv", i), good))
	}
	c.Close()

	var uploads []uploadView
	waitUntil(t, 180*time.Second, "every upload to reach a final state", func() bool {
		uploads = p.allUploads(t, "acme")
		for _, u := range uploads {
			if u.FinishedAt == "" || u.ArchivedAt == "" {
				return false
			}
		}
		return true
	})
	require.Len(t, uploads, total)
	wantEvents := map[string]string{} // event id → upload
	for _, u := range uploads {
		require.Contains(t, []string{"ready", "rejected"}, u.Status, "upload %s %s: %s", u.ID, u.Path, u.Error)
		for _, f := range u.Files {
			switch f.Status {
			case "ready":
				wantEvents[f.ID+".ready"] = u.ID
			case "rejected":
				wantEvents[f.ID+".rejected"] = u.ID
			case "done":
			default:
				t.Fatalf("upload %s: file %s is %s", u.ID, f.ID, f.Status)
			}
		}
	}

	// Every outcome event is in the stream exactly once.
	nc, err := nats.Connect(p.nats)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, pipeline.EventsStream)
	require.NoError(t, err)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pipeline.SubjectReady + ".>", pipeline.SubjectRejected + ".>"},
	})
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	seen := map[string]int{}
	for got := uint64(0); got < info.NumPending; got++ {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		require.NoError(t, err)
		var ev pipeline.Event
		require.NoError(t, json.Unmarshal(msg.Data(), &ev))
		seen[ev.ID]++
	}
	for id, n := range seen {
		require.Equal(t, 1, n, "event %s published %d times", id, n)
		require.Contains(t, wantEvents, id, "an event no file accounts for")
	}
	require.Len(t, seen, len(wantEvents), "every outcome announced")

	// No temporary or spool file is left once the janitor ran at start:
	// blob writers' and report writers' temporary files.
	var leftovers []string
	require.NoError(t, filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, ".tmp-") || strings.HasPrefix(name, ".sluice-r.") {
			leftovers = append(leftovers, path)
		}
		return nil
	}))
	require.Empty(t, leftovers)
	// And the log has exactly one outcome line per upload.
	outcomeLines := 0
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "upload processed") {
			outcomeLines++
		}
	}
	require.LessOrEqual(t, outcomeLines, total)
}

// TestE2EGracefulShutdown sends SIGTERM to `sluice serve` while the pipeline
// works: it stops accepting, drains, hands unfinished tasks back and exits
// with status 0; after a restart every recorded upload reaches its final
// state.
func TestE2EGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test: -short")
	}
	bin, err := buildSluice()
	require.NoError(t, err)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"SLUICE_PIPELINE_WORKERS": "1"}
	p := startProcess(t, bin, dataDir, env)
	p.api(t, http.MethodPost, "/api/v1/accounts", map[string]any{"name": "acme"}, http.StatusCreated)
	p.api(t, http.MethodPost, "/api/v1/accounts/acme/credentials", map[string]any{"name": "login", "type": "password", "password": e2ePassword}, http.StatusCreated)
	p.api(t, http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed, http.StatusCreated)
	good, _ := csvPayloads(1 << 20)
	c, err := p.sftpClient("acme")
	require.NoError(t, err)
	for i := range 20 {
		require.NoError(t, put(c, fmt.Sprintf("/orders/g%02d.csv", i), good))
	}
	c.Close()

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice serve did not stop within 60s of SIGTERM:\n%s", p.logs.String())
	}
	require.Equal(t, 0, p.exitState.ExitCode(), p.logs.String())
	require.Contains(t, p.logs.String(), `msg=stopped`)

	p = startProcess(t, bin, dataDir, env)
	waitUntil(t, 120*time.Second, "every upload to reach a final state", func() bool {
		us := p.allUploads(t, "acme")
		for _, u := range us {
			if u.FinishedAt == "" || u.ArchivedAt == "" {
				return false
			}
		}
		return len(us) == 20
	})
	for _, u := range p.allUploads(t, "acme") {
		require.Equal(t, "ready", u.Status, "%s: %s", u.Path, u.Error)
	}
}
