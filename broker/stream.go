package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Per-attempt timeout and back-off of EnsureStream. A JetStream API request
// sent before a cluster has elected its meta leader gets no answer at all, so
// a short attempt followed by another beats one long wait.
const (
	ensureAttemptTimeout = 3 * time.Second
	ensureMinBackoff     = 100 * time.Millisecond
	ensureMaxBackoff     = 2 * time.Second
)

// EnsureStream creates the stream cfg describes, or updates it to cfg when
// it exists; calling it again with the same cfg changes nothing. It retries
// with short per-attempt timeouts until it succeeds or ctx ends, and gives up
// at once on an error the server will repeat (an invalid configuration, or a
// change a stream does not allow such as its storage type). It blocks until
// then; pass a ctx with a deadline to bound the wait.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	backoff := ensureMinBackoff
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, ensureAttemptTimeout)
		_, err := js.CreateOrUpdateStream(actx, cfg)
		cancel()
		if err == nil {
			return nil
		}
		if permanent(err) {
			return fmt.Errorf("ensure stream %q: %w", cfg.Name, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("ensure stream %q: %w (last attempt: %w)", cfg.Name, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, ensureMaxBackoff)
	}
}

// JetStream API error codes that a retry cannot fix (nats-server's
// errors.json).
const (
	errCodeInvalidConfig        = 10052 // e.g. a storage type change
	errCodeLimits               = 10053 // e.g. the account's stream limit
	errCodeReplicasNotSupported = 10074 // replicas > 1 without a cluster
)

// permanent reports whether err is an answer the server will give again: a
// client-side validation error, an API error with a 400 (bad request) code or
// one of the configuration errors above. No answer, 503 (no leader, not
// enough peers yet) and timeouts are transient.
func permanent(err error) bool {
	if errors.Is(err, jetstream.ErrStreamNameRequired) || errors.Is(err, jetstream.ErrInvalidStreamName) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeInvalidConfig, errCodeLimits, errCodeReplicasNotSupported:
		return true
	}
	return apiErr.Code == 400
}
