package storage

import (
	"context"
	"time"
)

// CallStore keeps calls, their turns, status timelines, recordings, summaries
// and the durable background work they cause. Implementations are safe for
// concurrent use by any number of goroutines and, for shared stores, processes.
// Times are supplied by callers where they matter so tests stay deterministic.
type CallStore interface {
	// UpsertCall creates the call, or leaves an existing one unchanged apart
	// from filling in fields it lacked. Idempotent on SID. ErrInvalid for a
	// malformed SID.
	UpsertCall(ctx context.Context, c NewCall) (Call, error)

	// GetCall returns the call with its timeline (oldest first), turns
	// (by number, assistant after caller within a number), summary and
	// recordings. ErrNotFound when absent.
	GetCall(ctx context.Context, sid string) (Call, error)

	// ListCalls returns calls newest first (by CreatedAt, then SID), without
	// their timeline, turns or recordings. ErrInvalid for a malformed cursor
	// or filter.
	ListCalls(ctx context.Context, f CallFilter) (CallPage, error)

	// AddTurn stores t unless a turn with the same (call, number, role)
	// exists, and returns the stored turn and whether it was created by this
	// call. ErrNotFound when the call does not exist; ErrInvalid for a number
	// outside 0..MaxTurn, an unknown role or text over MaxTurnText.
	AddTurn(ctx context.Context, t Turn) (Turn, bool, error)

	// ApplyStatus records ev in the call's timeline (once per status) and moves
	// the call's status forward only (see Advances). When the call reaches a
	// terminal status, summary work is enqueued in the same transaction.
	// Returns the call as now stored (without its parts). ErrNotFound when
	// the call does not exist; ErrInvalid for an unknown status.
	ApplyStatus(ctx context.Context, sid string, ev StatusEvent) (Call, error)

	// AddRecording stores r unless a recording with its SID exists, and
	// returns the stored one and whether it was created. A new pending
	// recording enqueues its archive work in the same transaction.
	// ErrNotFound when the call does not exist; ErrInvalid for a malformed SID.
	AddRecording(ctx context.Context, r Recording) (Recording, bool, error)

	// GetRecording returns one recording of a call. ErrNotFound when absent.
	GetRecording(ctx context.Context, callSID, sid string) (Recording, error)

	// DeleteCall removes the call and everything it owns, including its
	// pending work, and returns the recordings it had so the caller can
	// delete their blobs. ErrNotFound when absent.
	DeleteCall(ctx context.Context, sid string) ([]Recording, error)

	// ClaimWork leases the oldest due work item (not before its retry time,
	// not leased, or whose lease expired) to the caller until now+lease.
	// ok is false when nothing is due. Two callers never hold the same item.
	ClaimWork(ctx context.Context, now time.Time, lease time.Duration) (w Work, ok bool, err error)

	// CompleteRecording marks the recording of w stored with blob, completes
	// w and, when deleteMedia is set, enqueues WorkDeleteTwilioMedia, all in
	// one transaction. ErrConflict when w's lease is no longer held.
	CompleteRecording(ctx context.Context, w Work, blob StoredBlob, deleteMedia bool) error

	// CompleteSummary stores the call's summary and completes w in one
	// transaction. ErrConflict when w's lease is no longer held.
	CompleteSummary(ctx context.Context, w Work, s Summary) error

	// CompleteWork completes w (work with no result to store).
	// ErrConflict when w's lease is no longer held.
	CompleteWork(ctx context.Context, w Work) error

	// FailWork records a failed attempt: the error is kept on the work and on
	// its recording (for recording work) and the work waits until f.RetryAt,
	// or, when f.Final, is removed and its recording marked failed.
	// ErrConflict when w's lease is no longer held.
	FailWork(ctx context.Context, w Work, f Failure) error

	// ReleaseWork gives w back unfinished (for example at shutdown): it can be
	// claimed again at once and the attempt does not count.
	// ErrConflict when w's lease is no longer held.
	ReleaseWork(ctx context.Context, w Work) error

	// Ping reports whether the store can serve requests; ErrUnavailable when not.
	Ping(ctx context.Context) error
}
