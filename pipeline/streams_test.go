package pipeline

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestEventsConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*EventsConfig)
		want   string
	}{
		{name: "default", change: func(*EventsConfig) {}},
		{name: "replicas from a cluster", change: func(c *EventsConfig) { c.Replicas = 3 }},
		{name: "max age", change: func(c *EventsConfig) { c.MaxAge = 0 }, want: "pipeline.events.max_age:"},
		{name: "duplicates", change: func(c *EventsConfig) { c.Duplicates = 0 }, want: "pipeline.events.duplicates:"},
		{name: "duplicates beyond max age", change: func(c *EventsConfig) { c.Duplicates = 8 * 24 * time.Hour }, want: "must not exceed pipeline.events.max_age"},
		{name: "max bytes", change: func(c *EventsConfig) { c.MaxBytes = -1 }, want: "pipeline.events.max_bytes:"},
		{name: "replicas", change: func(c *EventsConfig) { c.Replicas = 6 }, want: "nats.replicas:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultEventsConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestEventStream(t *testing.T) {
	_, js := startNATS(t).connect() // creates the stream once
	cfg := DefaultEventsConfig()
	cfg.MaxBytes = 1 << 30
	_, err := js.CreateOrUpdateStream(t.Context(), EventStreamConfig(cfg))
	require.NoError(t, err, "created again with a change: an update")

	s, err := js.Stream(t.Context(), EventsStream)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, jetstream.LimitsPolicy, info.Config.Retention)
	require.Equal(t, jetstream.FileStorage, info.Config.Storage)
	require.Equal(t, 7*24*time.Hour, info.Config.MaxAge)
	require.Equal(t, 2*time.Hour, info.Config.Duplicates)
	require.Equal(t, int64(1<<30), info.Config.MaxBytes)
	require.Equal(t, 1, info.Config.Replicas)

	// Every event subject lands in the stream; a repeated Nats-Msg-Id does not.
	for _, subj := range []string{"sluice.received.acme", "sluice.ready.acme.orders", "sluice.rejected.acme.orders"} {
		for range 2 {
			msg := nats.NewMsg(subj)
			msg.Data = []byte("{}")
			ack, err := js.PublishMsg(t.Context(), msg, jetstream.WithMsgID("id-"+subj), jetstream.WithExpectStream(EventsStream))
			require.NoError(t, err)
			require.Equal(t, EventsStream, ack.Stream)
		}
	}
	require.Len(t, events(t, js), 3)

	_, err = js.Publish(t.Context(), "sluice.other.acme", []byte("{}"))
	require.Error(t, err, "other subjects are not part of the events stream")
}
