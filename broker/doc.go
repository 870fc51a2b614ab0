// Package broker gives Sluice its NATS connection and JetStream context.
//
// By default it runs an embedded nats-server with JetStream in the same
// process, its file store under the data directory, and connects to it
// in-process (no socket at all). nats.listen additionally exposes that server
// on TCP so that importers can consume events; nats.url instead connects to an
// external server or cluster, reconnecting forever when it goes away.
//
// EnsureStream creates or updates a JetStream stream idempotently, retrying
// with short per-attempt timeouts: a JetStream API call made before a cluster
// has elected its meta leader hangs until it times out.
//
// broker knows no Sluice domain type and defines no stream of its own: the
// packages that own the subjects (pipeline) describe their streams and cmd
// passes them to EnsureStream. RegisterMetrics exposes the connection's state
// (sluice_nats_connected) to Prometheus. It imports only the standard
// library, NATS and the Prometheus client.
package broker
