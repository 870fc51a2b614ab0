package blob

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// RemoveAll deletes every blob whose key is in the folder prefix. It reads
// the name of every object of the bucket (a scan of the headers of the
// bucket's metadata, not of its chunks: about 150,000 objects a second on
// one machine) and keeps those in prefix, so it takes time in proportion to
// the bucket's objects and memory in proportion to prefix's.
func (o *Objects) RemoveAll(ctx context.Context, prefix string) error {
	if err := checkKey(prefix); err != nil {
		return err
	}
	// Names are base64 in the subjects, one token each: no subject filter
	// can select a prefix, so decode them all.
	metas := "$O." + o.cfg.Bucket + ".M."
	var keys []string
	err := o.scan(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{metas + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, HeadersOnly: true,
	}, func(m jetstream.Msg, _ *jetstream.MsgMetadata) (bool, error) {
		name, err := base64.URLEncoding.DecodeString(strings.TrimPrefix(m.Subject(), metas))
		if err == nil && strings.HasPrefix(string(name), prefix+"/") {
			keys = append(keys, string(name))
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("remove blobs %q: %w", prefix, err)
	}
	for _, key := range keys {
		if err := o.remove(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// staleBatch bounds the chunk subjects RemoveStale holds at a time.
const staleBatch = 50_000

// RemoveStale purges the chunks no committed object refers to and returns
// how many objects' chunks it purged. There are no temporary files here,
// but chunks play their part: a writer whose process died in the middle of
// a blob (a crash, kill -9, a connection lost for longer than the client's
// timeout) leaves the chunks it sent behind, and so does a Put that lost the
// race for a key to another one (the library purges only the chunks of the
// object it replaced). Chunks whose newest message is younger than
// StaleAfter are left alone: their writer may still be alive.
//
// RemoveStale reads the headers of every chunk, and the metadata of every
// object once per staleBatch objects, so it takes time in proportion to the
// bucket's size; run it rarely (the janitor's purge, hourly). Its memory is
// bounded by staleBatch.
func (o *Objects) RemoveStale(ctx context.Context) (int, error) {
	return o.removeStale(ctx, staleBatch)
}

// removeStale is RemoveStale holding at most batch chunk subjects.
func (o *Objects) removeStale(ctx context.Context, batch int) (int, error) {
	cutoff := time.Now().Add(-o.cfg.StaleAfter)
	chunks := "$O." + o.cfg.Bucket + ".C."
	n := 0
	for from := uint64(1); from > 0; {
		// Chunks first, then metadata: a blob committed between the two
		// scans is seen by the second.
		old := map[string]bool{}
		next := uint64(0)
		err := o.scan(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{chunks + ">"}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from, HeadersOnly: true,
		}, func(m jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
			if md.Timestamp.Before(cutoff) {
				old[strings.TrimPrefix(m.Subject(), chunks)] = true
			}
			if len(old) < batch {
				return true, nil
			}
			next = md.Sequence.Stream + 1
			return false, nil
		})
		if err != nil || len(old) == 0 {
			return n, err
		}
		err = o.scan(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"$O." + o.cfg.Bucket + ".M.>"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
		}, func(m jetstream.Msg, _ *jetstream.MsgMetadata) (bool, error) {
			var info jetstream.ObjectInfo
			if json.Unmarshal(m.Data(), &info) == nil && !info.Deleted {
				delete(old, info.NUID)
			}
			return true, nil
		})
		if err != nil {
			return n, err
		}
		for nuid := range old {
			// Old chunks, but a writer at work for longer than StaleAfter
			// has young ones too.
			last, err := o.get(ctx, msgGet{LastFor: o.chunkSubject(nuid)})
			if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && !last.Time.Before(cutoff) {
				continue
			}
			if err == nil {
				err = o.stream.Purge(ctx, jetstream.WithPurgeSubject(o.chunkSubject(nuid)))
			}
			if err != nil {
				return n, fmt.Errorf("purge stale chunks %s: %w", nuid, err)
			}
			n++
		}
		from = next
	}
	return n, nil
}

// scanWait bounds the wait for one message of a scan.
const scanWait = 10 * time.Second

// scan feeds fn the messages of the bucket's stream that cfg selects (one
// filter subject), in stream order, until fn returns false or an error or
// scan passed the newest message on the filter when it started. It reads
// them with an ordered consumer it deletes when done, waiting at most
// scanWait for each.
func (o *Objects) scan(ctx context.Context, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	last, err := o.get(ctx, msgGet{LastFor: cfg.FilterSubjects[0]})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && cfg.OptStartSeq > last.Sequence {
		return nil
	}
	cfg.InactiveThreshold = time.Minute // a fallback: deleted below
	cons, err := o.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = o.js.DeleteConsumer(dctx, "OBJ_"+o.cfg.Bucket, info.Name)
			cancel()
		}
	}()
	// Short pulls with heartbeats: a pull lost while a cluster node goes
	// away is noticed in a second and the consumer made anew.
	it, err := cons.Messages(jetstream.PullMaxMessages(256), jetstream.PullExpiry(2*time.Second), jetstream.PullHeartbeat(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	for {
		nctx, cancel := context.WithTimeout(ctx, scanWait)
		m, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("consume: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		more, err := fn(m, md)
		if err != nil || !more || md.NumPending == 0 || md.Sequence.Stream >= last.Sequence {
			return err
		}
	}
}
