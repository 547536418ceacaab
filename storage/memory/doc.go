// Package memory is a CallStore that keeps everything in process memory.
//
// It backs the dev server and handler tests, so it offers the same semantics
// as the PostgreSQL store (idempotent upserts, monotonic statuses, leased
// background work, microsecond UTC times) and passes the same contract suite:
// code that works against it works against production. Nothing survives a
// restart, and nothing is shared between processes.
package memory
