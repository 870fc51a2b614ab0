// Package blob stores file contents for the pipeline by key: Dir keeps them
// on local disk under one folder (the default of a single node). A shared
// store for several nodes plugs in behind the same pipeline.Blobs interface.
//
// blob imports only the standard library and pipeline's interfaces.
package blob
