// Package storage holds switchboard's domain types (calls, turns, recordings,
// summaries, background work, replica erasures), the two small interfaces
// over their storage (CallStore and BlobStore, with the call store's
// CallWriter, WorkQueue and ErasureQueue) and the error kinds every
// implementation returns.
//
// Implementations live in subpackages: memory and postgres for calls, localfs
// and s3 for blobs; storagetest holds the contract suites they all pass.
package storage
