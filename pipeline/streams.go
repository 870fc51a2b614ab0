package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EventsStream is the name of the JetStream stream of the events importers
// consume: sluice.received.>, sluice.ready.> and sluice.rejected.>.
const EventsStream = "SLUICE_EVENTS"

// EventsConfig shapes the events stream. Its keys live under
// pipeline.events. in the configuration file.
type EventsConfig struct {
	// MaxAge is how long events are kept (limits retention).
	MaxAge time.Duration `yaml:"max_age" koanf:"max_age"`
	// MaxBytes caps the stream's size; the oldest events go first. 0 is no
	// cap.
	MaxBytes int64 `yaml:"max_bytes" koanf:"max_bytes"`
	// Duplicates is JetStream's de-duplication window: a message with a
	// Nats-Msg-Id seen within it is acknowledged and dropped. It covers a
	// publish repeated by the outbox sweeper after a crash. Message ids are
	// kept in memory for this long.
	Duplicates time.Duration `yaml:"duplicates" koanf:"duplicates"`
	// Replicas of the stream; cmd sets it from nats.replicas.
	Replicas int `yaml:"-" koanf:"-"`
}

// DefaultEventsConfig returns a week of events with a two-hour
// de-duplication window.
func DefaultEventsConfig() EventsConfig {
	return EventsConfig{
		MaxAge:     7 * 24 * time.Hour,
		Duplicates: 2 * time.Hour,
		Replicas:   1,
	}
}

// Validate reports the first invalid field of c, naming its key.
func (c EventsConfig) Validate() error {
	switch {
	case c.MaxAge <= 0:
		return fmt.Errorf("pipeline.events.max_age: must be positive (got %s)", c.MaxAge)
	case c.Duplicates <= 0:
		return fmt.Errorf("pipeline.events.duplicates: must be positive (got %s)", c.Duplicates)
	case c.Duplicates > c.MaxAge:
		return errors.New("pipeline.events.duplicates: must not exceed pipeline.events.max_age")
	case c.MaxBytes < 0:
		return fmt.Errorf("pipeline.events.max_bytes: must be 0 (no cap) or positive (got %d)", c.MaxBytes)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("nats.replicas: must be between 1 and 5 (got %d)", c.Replicas)
	}
	return nil
}

// EventStreamConfig returns the configuration of the events stream: file
// storage, limits retention, the subjects of every event type. cmd passes it
// to broker.EnsureStream at start.
func EventStreamConfig(c EventsConfig) jetstream.StreamConfig {
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "Sluice events for importers: received, ready and rejected files (CloudEvents JSON)",
		Subjects:    []string{SubjectReceived + ".>", SubjectReady + ".>", SubjectRejected + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		Duplicates:  c.Duplicates,
		Replicas:    max(c.Replicas, 1),
		AllowDirect: true,
	}
}
