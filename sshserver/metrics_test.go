package sshserver

import (
	"errors"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/internal/promtest"
)

func TestFSMetrics(t *testing.T) {
	secure := credentials.Feed{Account: "acme", Name: "secure", Path: "/secure", RequireEncryption: true}
	data := []byte("id,email\n1,a@example.com\n")
	tests := []struct {
		name     string
		session  *Session
		run      func(t *testing.T, tf *testFS, c *pipeConn)
		result   string
		received float64 // bytes written by the client
		timed    bool    // an upload duration was observed
	}{
		{
			name: "received",
			run: func(t *testing.T, _ *testFS, c *pipeConn) {
				require.NoError(t, put(t, c.client, "/x.csv", data))
			},
			result: resultOK, received: float64(len(data)), timed: true,
		},
		{
			name: "temporary name renamed",
			run: func(t *testing.T, _ *testFS, c *pipeConn) {
				require.NoError(t, put(t, c.client, "/x.csv.filepart", data))
				require.NoError(t, c.client.Rename("/x.csv.filepart", "/x.csv"))
			},
			result: resultOK, received: float64(len(data)), timed: true,
		},
		{
			name: "refused by the feed",
			run: func(t *testing.T, _ *testFS, c *pipeConn) {
				require.NoError(t, c.client.MkdirAll("/secure")) // the session made the feed's folder
				require.Error(t, put(t, c.client, "/secure/x.csv", data))
			},
			result: resultRefused, received: float64(len(data)),
		},
		{
			name:    "over quota",
			session: testSession("acme", 10, 0, 0),
			run: func(t *testing.T, _ *testFS, c *pipeConn) {
				require.Error(t, put(t, c.client, "/x.csv", data))
			},
			result: resultQuota,
		},
		{
			name: "cut off",
			run: func(t *testing.T, _ *testFS, c *pipeConn) {
				f, err := c.client.Create("/x.csv")
				require.NoError(t, err)
				_, err = f.Write(data)
				require.NoError(t, err)
				c.kill(t)
			},
			result: resultAborted, received: float64(len(data)),
		},
		{
			name: "not recorded",
			run: func(t *testing.T, tf *testFS, c *pipeConn) {
				tf.sink.setErr(errors.New("database is down"))
				require.Error(t, put(t, c.client, "/x.csv", data))
			},
			result: resultError, received: float64(len(data)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFS(t, secure)
			reg := prometheus.NewRegistry()
			require.NoError(t, tf.fs.RegisterMetrics(reg))
			s := tc.session
			if s == nil {
				s = testSession("acme", 0, 0, 0)
			}
			tc.run(t, tf, tf.connect(t, s))

			waitFor(t, "the upload's outcome", func() bool {
				return promtest.Gather(t, reg).Value("sluice_sftp_uploads_total", "result", tc.result) == 1
			})
			for _, r := range uploadResults {
				if r != tc.result {
					require.Zero(t, promtest.Gather(t, reg).Value("sluice_sftp_uploads_total", "result", r), r)
				}
			}
			require.Equal(t, tc.received, promtest.Gather(t, reg).Value("sluice_sftp_bytes_received_total"))
			timed := promtest.Gather(t, reg).Value("sluice_sftp_upload_duration_seconds")
			require.Equal(t, tc.timed, timed == 1, "duration observations: %v", timed)
		})
	}
}

func TestFSMetricsCountDownloads(t *testing.T) {
	tf := newTestFS(t)
	reg := prometheus.NewRegistry()
	require.NoError(t, tf.fs.RegisterMetrics(reg))
	c := tf.connect(t, testSession("acme", 0, 0, 0))
	data := randomBytes(t, 300<<10)
	require.NoError(t, put(t, c.client, "/x.bin", data))

	f, err := c.client.Open("/x.bin")
	require.NoError(t, err)
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, data, got)
	require.Equal(t, float64(len(data)), promtest.Gather(t, reg).Value("sluice_sftp_bytes_sent_total"))
	require.Equal(t, float64(len(data)), promtest.Gather(t, reg).Value("sluice_sftp_bytes_received_total"))
}

func TestLoginResult(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{"partial:publickey", "partial"},
		{"denied:bad-credentials", "bad-credentials"},
		{"denied:banned", "banned"},
		{"something else", "other"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, loginResult(tc.in))
		})
	}
}
