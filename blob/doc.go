// Package blob stores file contents for the pipeline by key: Dir keeps them
// on local disk under one folder (the default of a single node). A shared
// store for several nodes plugs in behind the same Store interface, which pipeline and its stages use
// (as pipeline.Blobs).
//
// blob imports only the standard library.
package blob
