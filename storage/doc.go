// Package storage holds switchboard's domain types (calls, turns, recordings,
// summaries, background work, replica erasures, event endpoints and their
// deliveries), the two small interfaces over their storage (CallStore and
// BlobStore, with the call store's CallWriter, WorkQueue, ErasureQueue,
// Endpoints and EventQueue) and the error kinds every implementation
// returns.
//
// Implementations live in subpackages: memory and postgres for calls, localfs
// and s3 for blobs; storagetest holds the contract suites they all pass.
package storage
