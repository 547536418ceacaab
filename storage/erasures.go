package storage

import (
	"context"
	"time"
)

// Replication copies every new version of a recording from the bucket the
// service writes to into the replica bucket in the other region
// (S3_REPLICA_BUCKET), but never a version's deletion. Deleting a call
// therefore has to erase its audio in the replica bucket as well, and that
// bucket is in the region that may be down when the call is deleted. So the
// store records the erasure in the same transaction as the deletion, on the
// call's tombstone (which outlives the call's rows), and workers carry it
// out with a lease, retrying until the replica answers. A version that was
// still replicating at the first pass can land after it; a second pass, a
// while later, erases that too. Each erasure names its bucket: after a
// failover the service writes to the former replica and calls the former
// main bucket its replica, and an erasure recorded before the failover still
// means the bucket it named.

// ErasurePasses is how many times an erasure erases its keys: once as soon
// as the call is deleted, and once more after the recheck delay.
const ErasurePasses = 2

// DeleteOptions say what DeleteCall records besides the deletion itself.
type DeleteOptions struct {
	// ReplicaBucket names the bucket the call's recordings are replicated
	// to (S3_REPLICA_BUCKET): DeleteCall records an Erasure of them there,
	// when the call had any. Empty, when there is no replica, records
	// nothing.
	ReplicaBucket string
}

// Erasure is the pending erasure of a deleted call's recordings from the
// replica bucket, as claimed by a worker.
type Erasure struct {
	CallSID string
	// Bucket is the bucket to erase in: DeleteOptions.ReplicaBucket.
	Bucket string
	// Keys are the blob keys the call's audio may be under (BlobKeys of the
	// recordings DeleteCall returned).
	Keys []string
	// DeletedAt is when the call was deleted.
	DeletedAt time.Time
	// Pass is the pass this claim runs, from 1 to ErasurePasses.
	Pass int
	// Attempts counts the claims of this pass, including this one.
	Attempts int
	// LastError is why the previous attempt failed; "" when it did not.
	LastError string
	// Lease identifies this claim. Finishing, failing or releasing the
	// erasure with a stale lease returns ErrConflict.
	Lease      string
	LeaseUntil time.Time
}

// ErasureBacklog is what an operator watches of the erasures.
type ErasureBacklog struct {
	// Pending counts the erasures not finished, in either pass.
	Pending int
	// Failing counts those whose last attempt failed.
	Failing int
}

// ErasureQueue is the worker's side of the replica erasures DeleteCall
// records (see DeleteOptions). An erasure is never given up: it is retried
// until the replica bucket lets it finish, and while it is pending its
// call's tombstone is not purged. The stores that implement CallStore
// implement it too.
type ErasureQueue interface {
	// ClaimErasure leases the oldest due erasure (not before its retry or
	// next pass time, not leased, or whose lease expired) to the caller
	// until now+lease. ok is false when none is due. Two callers never hold
	// the same erasure. ErrInvalid for a lease that is not positive.
	ClaimErasure(ctx context.Context, now time.Time, lease time.Duration) (e Erasure, ok bool, err error)

	// FinishErasurePass records that pass e.Pass erased every key. After
	// the last pass the erasure is removed; before it the next pass is due
	// at next, with no attempts and no error yet. ErrConflict when e's
	// lease is no longer held.
	FinishErasurePass(ctx context.Context, e Erasure, next time.Time) error

	// FailErasure records a failed attempt: msg is kept as the erasure's
	// last error and the erasure waits until retryAt. ErrConflict when e's
	// lease is no longer held.
	FailErasure(ctx context.Context, e Erasure, msg string, retryAt time.Time) error

	// ReleaseErasure gives e back unfinished (at shutdown): it can be
	// claimed again at once and the attempt does not count. ErrConflict
	// when e's lease is no longer held.
	ReleaseErasure(ctx context.Context, e Erasure) error

	// ErasureBacklog counts the erasures still pending.
	ErasureBacklog(ctx context.Context) (ErasureBacklog, error)
}
