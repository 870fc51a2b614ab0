package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CloudEvents types of Sluice's events (DESIGN.md, Events).
const (
	TypeReceived = "dev.sluice.file.received"
	TypeReady    = "dev.sluice.file.ready"
	TypeRejected = "dev.sluice.file.rejected"
)

// Subject prefixes of the events; the account (and, for ready and rejected,
// the feed) follow as further tokens.
const (
	SubjectReceived = "sluice.received"
	SubjectReady    = "sluice.ready"
	SubjectRejected = "sluice.rejected"
)

// ContentTypeCloudEvents is the Content-Type header of an event message:
// the CloudEvents NATS binding's structured mode.
const ContentTypeCloudEvents = "application/cloudevents+json"

// ReceivedSubject returns the subject of an account's received events,
// sluice.received.<account>. Account names are valid subject tokens
// (credentials.CheckAccountName).
func ReceivedSubject(account string) string { return SubjectReceived + "." + account }

// Event is a CloudEvents 1.0 event in structured JSON mode. Its ID is
// deterministic, so a redelivered or republished event is recognisably the
// same event, and it carries no secret.
type Event struct {
	SpecVersion     string          `json:"specversion"` // always "1.0"
	ID              string          `json:"id"`
	Source          string          `json:"source"` // /sluice/<node>
	Type            string          `json:"type"`   // e.g. dev.sluice.file.received
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"` // always application/json
	Data            json.RawMessage `json:"data"`
}

// NewEvent returns an event of type typ with data marshalled to JSON. at is
// the time of the occurrence, not of publication, so that the same
// occurrence always yields the same bytes.
func NewEvent(id, source, typ, subject string, at time.Time, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode data of event %q: %w", id, err)
	}
	return Event{
		SpecVersion:     "1.0",
		ID:              id,
		Source:          source,
		Type:            typ,
		Subject:         subject,
		Time:            at.UTC(),
		DataContentType: "application/json",
		Data:            raw,
	}, nil
}

// ReceivedData is the data of a received event.
type ReceivedData struct {
	UploadID   string    `json:"upload_id"`
	Account    string    `json:"account"`
	Feed       string    `json:"feed"` // "" when no feed's folder holds the path
	UploadName string    `json:"upload_name"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	ReceivedAt time.Time `json:"received_at"`
	Remote     string    `json:"remote,omitempty"`
}

// ReceivedEvent returns the received event of u: id "<upload id>.received",
// subject the upload's path, time its receipt.
func ReceivedEvent(u Upload, source string) (Event, error) {
	return NewEvent(u.ID+".received", source, TypeReceived, u.Path, u.ReceivedAt, ReceivedData{
		UploadID:   u.ID,
		Account:    u.Account,
		Feed:       u.Feed,
		UploadName: u.Name(),
		Path:       u.Path,
		Size:       u.Size,
		SHA256:     u.SHA256,
		ReceivedAt: u.ReceivedAt.UTC(),
		Remote:     u.Remote,
	})
}

// eventMsg returns the message that carries ev on subject: the event as
// structured-mode CloudEvents JSON.
func eventMsg(subject string, ev Event) (*nats.Msg, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", ev.ID, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set("Content-Type", ContentTypeCloudEvents)
	return msg, nil
}

// publishEvent publishes ev on subject into the events stream with msgID as
// Nats-Msg-Id, and waits for JetStream's acknowledgement or the end of ctx.
// A second publish of the same msgID within the stream's duplicates window is
// acknowledged without being stored again. The intake publishes its received
// events asynchronously, in batches, instead (Intake.Sweep).
func publishEvent(ctx context.Context, js jetstream.JetStream, subject, msgID string, ev Event) (*jetstream.PubAck, error) {
	msg, err := eventMsg(subject, ev)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(EventsStream))
	if err != nil {
		return nil, fmt.Errorf("publish event %q on %q: %w", ev.ID, subject, err)
	}
	return ack, nil
}
