package pipeline

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReceivedEvent(t *testing.T) {
	u := newUpload("acme", "/orders/eu/x.csv.gpg", "payload")
	u.ID, u.Feed = "01JUPLOAD00000000000000000", "eu-orders"
	u.ReceivedAt = u.ReceivedAt.UTC().Truncate(time.Microsecond)

	ev, err := ReceivedEvent(u, "/sluice/node-1")
	require.NoError(t, err)
	again, err := ReceivedEvent(u, "/sluice/node-1")
	require.NoError(t, err)
	b1, err := json.Marshal(ev)
	require.NoError(t, err)
	b2, err := json.Marshal(again)
	require.NoError(t, err)
	require.Equal(t, b1, b2, "the same upload yields the same bytes: republishing is invisible")

	require.JSONEq(t, `{
		"specversion": "1.0",
		"id": "01JUPLOAD00000000000000000.received",
		"source": "/sluice/node-1",
		"type": "dev.sluice.file.received",
		"subject": "/orders/eu/x.csv.gpg",
		"time": "2026-03-04T04:06:07.891234Z",
		"datacontenttype": "application/json",
		"data": {
			"upload_id": "01JUPLOAD00000000000000000",
			"account": "acme",
			"feed": "eu-orders",
			"upload_name": "x.csv.gpg",
			"path": "/orders/eu/x.csv.gpg",
			"size": 7,
			"sha256": "`+u.SHA256+`",
			"received_at": "2026-03-04T04:06:07.891234Z",
			"remote": "192.0.2.7:50022"
		}
	}`, string(b1))
	require.NotContains(t, string(b1), u.File, "no server-side path")
	require.NotContains(t, string(b1), u.SessionID)

	var back Event
	require.NoError(t, json.Unmarshal(b1, &back))
	require.Equal(t, ev, back)
	var data ReceivedData
	require.NoError(t, json.Unmarshal(back.Data, &data))
	require.Equal(t, u.ID, data.UploadID)
}

func TestNewEventRefusesUnencodableData(t *testing.T) {
	_, err := NewEvent("x", "/sluice/n", TypeReady, "", time.Now(), map[string]any{"bad": make(chan int)})
	require.ErrorContains(t, err, `encode data of event "x"`)
}

func TestReceivedSubject(t *testing.T) {
	require.Equal(t, "sluice.received.acme", ReceivedSubject("acme"))
}
