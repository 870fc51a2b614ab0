// Package sshserver is the part of Sluice that customers touch: an SSH
// server (golang.org/x/crypto/ssh) that serves only the SFTP subsystem
// (github.com/pkg/sftp's request server) on a jailed virtual file system,
// and hands every finished upload on to the pipeline.
//
// The connection side lives in server.go (accept loop, limits, graceful
// shutdown, Sessions and Kill), auth.go (password and key authentication
// through the Authenticator interface, the defender, the audit trail),
// hostkey.go (host keys, generated on first start), session.go (session
// channels and the SFTP subsystem), limits.go (connection caps and the idle
// timeout) and config.go. The file system — fs.go, upload.go, quota.go,
// names.go, janitor.go and their neighbours — resolves every path inside
// the account's root, enforces quotas while writing, writes uploads to
// hidden temporary files and hands closed uploads to an UploadSink, logging
// one "upload ended" line per upload with its result. metrics.go holds the
// Prometheus collectors of both sides (Server.RegisterMetrics,
// FS.RegisterMetrics); their labels never carry a user or file name.
//
// Algorithms are set explicitly (no SHA-1, DSA, CBC or RC4); the handshake
// has a deadline and connections an idle timeout. Identity is decided in
// the auth callbacks and travels in ssh.Permissions.Extensions; a key login
// is recorded only once the client has proven it holds the key. A client is
// never told why authentication failed.
//
// sshserver must not do: exec, shell, port forwarding or any channel other
// than "session"; serve the host's file system (pkg/sftp's NewServer); run
// pipeline stages or talk to NATS. It declares the interfaces it consumes
// (Authenticator, Auditor, HandlerProvider, UploadSink, FeedLookup) and
// imports only credentials (for its domain types), defender and libraries;
// never admin, pipeline or cmd.
package sshserver
