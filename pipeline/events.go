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

// NoFeed is the feed token of the ready and rejected subjects of files whose
// folder no feed holds; feed names start with a letter or digit, so it names
// no feed.
const NoFeed = "_none"

// OutcomeSubject returns the subject of a ready or rejected event,
// <prefix>.<account>.<feed>, with NoFeed for the feed "".
func OutcomeSubject(prefix, account, feed string) string {
	if feed == "" {
		feed = NoFeed
	}
	return prefix + "." + account + "." + feed
}

// FileData is the data of a ready or rejected event (DESIGN.md, Events):
// one file an upload yielded, usually a CSV. A rejected file need not be a
// CSV: an OpenPGP message that cannot be decrypted or a ZIP with a wrong
// password is rejected at its own stage, and Chain ends there.
type FileData struct {
	UploadID   string   `json:"upload_id"`
	FileID     string   `json:"file_id"`
	Attempt    int      `json:"attempt"` // 1, then one more per retry
	Account    string   `json:"account"`
	Feed       string   `json:"feed"`        // "" when no feed's folder holds the upload
	UploadName string   `json:"upload_name"` // as uploaded, e.g. orders.zip.pgp
	Path       string   `json:"path"`        // the upload's path in the account's tree
	FileName   string   `json:"file_name"`   // this output, e.g. the CSV inside the ZIP
	Chain      []string `json:"chain"`       // e.g. ["pgp","zip","csv"]
	Size       int64    `json:"size"`        // bytes of this output (the normalised CSV when ready)
	SHA256     string   `json:"sha256"`      // hex, of the same bytes
	Rows       int64    `json:"rows"`        // data rows accepted, header excluded
	Columns    []string `json:"columns"`     // header names
	// RejectedRows counts the rows left out (skip_rows) or in error.
	RejectedRows int64 `json:"rejected_rows"`
	// Warnings counts cells worth a look, such as formula-like values.
	Warnings int64 `json:"warnings"`
	// ContentURL is the admin API path that streams the accepted CSV;
	// "" for a rejected file.
	ContentURL string `json:"content_url,omitempty"`
	// Error says why a rejected file was rejected as a whole; Errors are its
	// first problems (line, column, value, message); ErrorsTotal counts all.
	Error       string    `json:"error,omitempty"`
	Errors      []Problem `json:"errors,omitempty"`
	ErrorsTotal int64     `json:"errors_total,omitempty"`
	// ReportURL is the admin API path of the upload's report.
	ReportURL string `json:"report_url"`
	// Signer is the fingerprint of the verified OpenPGP signature, if any.
	Signer string `json:"signer,omitempty"`
	// ReceivedAt is when the upload was closed; the event's time is when
	// this file's outcome was decided.
	ReceivedAt time.Time `json:"received_at"`
}

// ContentURL returns the admin API path that streams file id's content.
func ContentURL(fileID string) string { return "/api/v1/files/" + fileID + "/content" }

// ReportURL returns the admin API path of upload id's report.
func ReportURL(uploadID string) string { return "/api/v1/uploads/" + uploadID + "/report" }
