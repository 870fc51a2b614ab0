// Package pipeline takes every finished upload from the SFTP server to its
// outcome and announces it on NATS JetStream.
//
// Intake is its entry point: it records an upload in the store and announces
// it with a sluice.received CloudEvent. The upload row is the source of truth
// and doubles as the outbox: Receive inserts it with published_at NULL and
// returns without waiting for NATS; the publisher (Intake.RunSweeper), woken
// by Receive, publishes the unmarked rows in batches, asynchronously, and
// marks each batch once JetStream acknowledged it. It also sweeps at start
// and periodically, and publishes with the upload id as Nats-Msg-Id so that
// JetStream drops a second copy. A received upload is never lost: not when
// NATS is down, not across a crash.
//
// EventStreamConfig describes the events stream importers consume (limits
// retention, DESIGN.md's Events contract); cmd creates it with
// broker.EnsureStream. pipeline never imports broker: it only needs a
// jetstream.JetStream.
//
// The intake and the runner in this package may use NATS; the stages below it
// (pipeline/decrypt, unzip, csvcheck) must not. pipeline imports credentials
// (feeds, paging and its errors) and store; it must not import admin,
// sshserver or cmd.
package pipeline
