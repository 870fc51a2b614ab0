package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Attempts of a request retry: a request can find no server to answer it,
// or get lost, for a moment while a cluster node goes away and the
// bucket's stream elects a new leader.
const (
	attemptTimeout = 3 * time.Second
	attempts       = 5
	retryBackoff   = 100 * time.Millisecond // doubled after each attempt
)

// retry runs op with a timeout per attempt, again after a transient
// failure (no answer, no responders), up to attempts times or until ctx
// ends. op must be idempotent.
func retry[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		v, err := op(actx)
		cancel()
		if err == nil || attempt == attempts || ctx.Err() != nil || !transient(err) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// transient reports whether err means that no server answered, or that
// the connection is being made anew (with no reconnect buffer, as broker's,
// a request fails at once meanwhile).
func transient(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded)
}

// msgGet asks for one message of the bucket's stream: the one at Seq, the
// first at or after Seq on subject NextFor, or the last on LastFor (a
// wildcard subject is fine).
type msgGet struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
}

// get fetches a message with a direct get, which any replica of the stream
// answers, and asks the leader when that finds nothing: a replica can lag
// a few writes behind, and a blob committed through one node must be found
// at once through any other. A message the leader does not have either is
// jetstream.ErrMsgNotFound.
func (o *Objects) get(ctx context.Context, req msgGet) (*jetstream.RawStreamMsg, error) {
	m, err := retry(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		if req.LastFor != "" {
			return o.stream.GetLastMsgForSubject(ctx, req.LastFor)
		}
		var opts []jetstream.GetMsgOpt
		if req.NextFor != "" {
			opts = append(opts, jetstream.WithGetMsgSubject(req.NextFor))
		}
		return o.stream.GetMsg(ctx, req.Seq, opts...)
	})
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return m, err
	}
	return retry(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return o.leaderGet(ctx, req) })
}

// leaderGet fetches a message from the stream's leader (the JetStream
// API's STREAM.MSG.GET, which the client library uses only for streams
// without direct gets).
func (o *Objects) leaderGet(ctx context.Context, req msgGet) (*jetstream.RawStreamMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := o.js.Conn().RequestWithContext(ctx, o.api+"STREAM.MSG.GET.OBJ_"+o.cfg.Bucket, body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Subject  string    `json:"subject"`
			Sequence uint64    `json:"seq"`
			Data     []byte    `json:"data"`
			Time     time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("get message: %w", err)
	}
	switch {
	case r.Error != nil && r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, jetstream.ErrMsgNotFound
	case r.Error != nil:
		return nil, r.Error
	case r.Message == nil:
		return nil, errors.New("get message: an empty answer")
	}
	return &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Sequence, Data: r.Message.Data, Time: r.Message.Time}, nil
}
