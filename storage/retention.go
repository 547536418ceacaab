package storage

import (
	"context"
	"time"
)

// Calls are kept for a retention window (RETENTION_DAYS), then deleted
// with everything they own: timeline, turns, tool calls, summary,
// analysis, pending work, and their recordings' audio in the blob store,
// in the replica bucket and at Twilio. The rows go in one transaction per
// batch, which also leaves each call a tombstone (so Twilio's late
// webhooks cannot bring it back) and records, on that tombstone, a Purge
// of the audio: blobs and media outside the database cannot be deleted in
// its transaction, so their deletion is durable work of its own that a
// worker carries out with a lease and retries until done. A process that
// dies after the batch committed loses nothing: the purge waits for the
// next worker. The replica bucket's copies are an Erasure. A call deleted
// through the API (DeleteCall) records the same Purge and Erasure.

// MediaRef names a recording's media at Twilio.
type MediaRef struct {
	AccountSID   string
	RecordingSID string
}

// Purge is the pending deletion of an expired or deleted call's audio, as
// claimed by a worker.
type Purge struct {
	CallSID string
	// Keys are the blob keys the call's audio may be under in the blob
	// store the service writes to (BlobKeys of its recordings).
	Keys []string
	// Media are the call's recordings, whose media may still be at Twilio.
	Media []MediaRef
	// ExpiredAt is when the call's rows were deleted (expired, or deleted
	// through the API).
	ExpiredAt time.Time
	// Attempts counts the claims, including this one.
	Attempts int
	// LastError is why the previous attempt failed; "" when it did not.
	LastError string
	// Lease identifies this claim. Finishing, failing or releasing the
	// purge with a stale lease returns ErrConflict.
	Lease      string
	LeaseUntil time.Time
}

// Retention is the worker's side of the retention window. The stores that
// implement CallStore implement it too.
type Retention interface {
	// ExpireCalls deletes at most limit calls created before the given
	// time, oldest first and whatever their status (a call lasts hours at
	// most; the window is days), each as DeleteCall would in one
	// transaction: its rows, a tombstone, and with o.ReplicaBucket the
	// Erasure of its audio there; for a call that had recordings it also
	// records a Purge of their blobs and media. It returns how many calls
	// it deleted; fewer than limit means none is left. Calls another
	// transaction holds (a webhook in flight) are left for the next
	// batch. ErrInvalid for a limit below 1.
	ExpireCalls(ctx context.Context, before time.Time, limit int, o DeleteOptions) (int, error)

	// ClaimPurge leases the oldest due purge (not before its retry time,
	// not leased, or whose lease expired) until now+lease. ok is false
	// when none is due. ErrInvalid for a lease that is not positive.
	ClaimPurge(ctx context.Context, now time.Time, lease time.Duration) (p Purge, ok bool, err error)

	// FinishPurge removes a purge whose blobs and media are all deleted.
	// ErrConflict when p's lease is no longer held.
	FinishPurge(ctx context.Context, p Purge) error

	// FailPurge keeps msg as the purge's last error; it waits until
	// retryAt. ErrConflict when p's lease is no longer held.
	FailPurge(ctx context.Context, p Purge, msg string, retryAt time.Time) error

	// ReleasePurge gives p back unfinished (at shutdown): due at once,
	// the attempt uncounted. ErrConflict when p's lease is no longer held.
	ReleasePurge(ctx context.Context, p Purge) error
}

// MediaOf lists the media of recs at Twilio.
func MediaOf(recs []Recording) []MediaRef {
	var out []MediaRef
	for _, r := range recs {
		if r.SID != "" && r.AccountSID != "" {
			out = append(out, MediaRef{AccountSID: r.AccountSID, RecordingSID: r.SID})
		}
	}
	return out
}
