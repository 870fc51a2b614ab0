// Package blob stores file contents for the pipeline by key, behind the
// Store interface that pipeline and its stages use (as pipeline.Blobs).
// Config.Driver picks the implementation:
//
//   - local (the default): Dir keeps blobs on the local disk under one
//     folder. A single node; an upload becomes a blob by a hard link.
//   - nats: Objects keeps them in a JetStream Object Store bucket, so that
//     every node of a NATS cluster shares them without new infrastructure:
//     an upload received by one node's SFTP server is streamed into the
//     bucket at close and any node's stages read it. The bucket has the
//     streams' replicas (nats.replicas), so blobs survive the loss of a
//     node as the pipeline's messages do.
//
// Both stream: neither holds a whole blob in memory, and both readers are
// io.ReaderAt with a Stat method, the random access unzip needs. Objects
// fetches a chunk at a time by its stream sequence (direct gets, which any
// replica answers), holding at most three chunks per reader and one per
// writer; it never spools to a temporary file.
//
// Another shared store, such as an S3-compatible one, plugs in the same way:
// an implementation of Store whose Create streams a multipart upload
// (parts buffered one at a time; Abort aborts the upload, Commit completes
// it, which makes the object visible at once and replaces an older one),
// whose readers serve ReadAt with ranged GETs and Stat from the object's
// size, whose RemoveAll lists by prefix (a server-side filter there), and
// whose RemoveStale aborts incomplete multipart uploads older than a grace
// period; then a driver name in Config and a branch where cmd opens the
// store. The contract test (contract_test.go) is what it must pass.
//
// blob imports the standard library and the NATS client's jetstream
// package; it must not import broker or anything of Sluice's above it.
package blob
