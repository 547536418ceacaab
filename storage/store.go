package storage

import (
	"context"
	"time"
)

// CallStore is what the calls API and the health checks use of the call
// records: reading, listing and deleting calls. Implementations are safe
// for concurrent use by any number of goroutines and, for shared stores,
// processes.
//
// Deleted calls stay deleted. DeleteCall leaves a tombstone for the call's
// SID, and until PurgeTombstones removes it every write that would create or
// change that call (the CallWriter methods) stores nothing and returns
// ErrGone: Twilio keeps sending a call's late status and recording callbacks
// after the call was deleted, and none of them may bring it back. Reads of a
// deleted call answer ErrNotFound. Once its tombstone is purged a SID is
// unknown again and may be created afresh. A tombstone whose call still has
// a replica erasure (ErasureQueue) or a purge of its audio (Retention)
// pending is kept until they are done.
type CallStore interface {
	CallReader

	// ListCalls returns calls newest first (by CreatedAt, then SID), without
	// their timeline, turns or recordings. ErrInvalid for a malformed cursor
	// or filter.
	ListCalls(ctx context.Context, f CallFilter) (CallPage, error)

	// DeleteCall removes the call and everything it owns, including its
	// pending work, and leaves a tombstone for its SID, in one transaction.
	// It returns every recording the call had, whatever its state. When
	// the call had recordings the same transaction records the Purge of
	// their audio (Retention): every blob key of every one of them
	// (BlobKeys), since a pending one may already have audio under its
	// ArchiveKey (an upload that finished just before a crash, or one still
	// running), and their media at Twilio; the workers carry it out, so
	// the deletion of the audio survives a crash or a blob store that is
	// down. The purge is due at once, unless a worker holds the archive of
	// one of the recordings: then it is due when that lease ends, by which
	// time the upload has finished or been abandoned, so an object it wrote
	// after the call was gone is deleted even when its worker died before
	// deleting it itself. With o.ReplicaBucket it also records the Erasure of those keys
	// in that bucket (ErasureQueue), due at once. ErrNotFound when absent
	// (a second delete included); ErrConflict, naming the status and
	// changing nothing, while the call has not ended (see CheckDeletable).
	DeleteCall(ctx context.Context, sid string, o DeleteOptions) ([]Recording, error)

	// Ping reports whether the store can serve requests; ErrUnavailable when not.
	Ping(ctx context.Context) error
}

// CallWriter records what Twilio's webhooks report about a call. Each method
// is shaped for the webhook that uses it: one call, and in PostgreSQL one
// round trip, does all of a webhook's store work, including creating the
// call when an earlier webhook never arrived (Twilio's requests can be lost,
// or reach another deployment). Every method is idempotent under repeated
// and concurrent deliveries, and the background work a change causes
// (WorkQueue) is created in the same transaction as the change, never
// apart from it. ErrGone, storing nothing, for a deleted call; ErrInvalid
// for malformed input.
type CallWriter interface {
	// StartCall creates the call, or fills in the fields an existing one
	// lacked, and stores the greeting as its turn 0 unless the call has a
	// turn 0 already (a repeated incoming-call webhook). A new call is
	// answered by the current version of the assistant its To number routes
	// to (Numbers), else by the default assistant; the greeting is that
	// version's, or greeting for the default. It returns the call as stored
	// (without its parts; Assistant names the version it runs with) and the
	// stored turn 0: the greeting, the earlier one, or a zero Turn when
	// there is none and the greeting is empty (nothing is stored then).
	StartCall(ctx context.Context, c NewCall, greeting Turn) (Call, Turn, error)

	// BeginTurn handles the caller's turn t.Number of call c, creating the
	// call when it is missing. When the turn was answered already (a
	// repeated delivery) it returns that answer and no history. Otherwise
	// it stores the caller's words t (unless t.Text is empty: silence, or a
	// turn that cannot follow the conversation because it skips ahead or
	// comes after the assistant ended the call) and returns the call's turns
	// in order (number, caller before assistant) — for silence only the
	// assistant's. ErrInvalid for a malformed turn.
	BeginTurn(ctx context.Context, c NewCall, t Turn) (TurnState, error)

	// AddTurn stores t unless a turn with the same (call, number, role)
	// exists, and returns the stored turn and whether it was created by this
	// call. ErrNotFound when the call does not exist; ErrGone when it was
	// deleted; ErrInvalid for a number outside 0..MaxTurn, an unknown role or
	// text over MaxTurnText.
	AddTurn(ctx context.Context, t Turn) (Turn, bool, error)

	// ApplyStatus records ev in the timeline of call c (once per status),
	// creating the call with ev's status when it is missing (answered by
	// its number's assistant, as StartCall's), and moves the
	// call's status forward only (see Advances). When the call reaches a
	// terminal status, summary work is enqueued in the same transaction.
	// Returns the call as now stored (without its parts). ErrInvalid for an
	// unknown status.
	ApplyStatus(ctx context.Context, c NewCall, ev StatusEvent) (Call, error)

	// AddRecording stores r unless a recording with its SID exists, creating
	// its call (in progress) when it is missing, and returns the stored
	// recording and whether it was created. A new pending recording enqueues
	// its archive work in the same transaction. ErrGone, enqueuing nothing,
	// when the call was deleted; ErrInvalid for a malformed SID.
	AddRecording(ctx context.Context, r Recording) (Recording, bool, error)
}

// TurnState is what BeginTurn found.
type TurnState struct {
	// Call is the call as stored, without its parts.
	Call Call
	// Answer is the assistant's stored answer when the turn was answered
	// already; Turns is then empty.
	Answer *Turn
	// Turns is the conversation (see BeginTurn).
	Turns []Turn
}

// WorkQueue is the worker's side of a call store: the durable background
// work its write methods created, claimed with a lease, and the methods
// that finish a work item and change the call's state in one transaction.
// The stores that implement CallStore implement it too.
type WorkQueue interface {
	// PurgeTombstones forgets at most limit tombstones of calls deleted
	// before the given time, oldest first, and returns how many it removed.
	// It keeps the tombstones of calls whose replica erasure is pending.
	// ErrInvalid for a limit below 1.
	PurgeTombstones(ctx context.Context, before time.Time, limit int) (int, error)

	// ClaimWork leases the oldest due work item (not before its retry time,
	// not leased, or whose lease expired) to the caller until now+lease.
	// ok is false when nothing is due. Two callers never hold the same item.
	ClaimWork(ctx context.Context, now time.Time, lease time.Duration) (w Work, ok bool, err error)

	// CompleteRecording marks the recording of w stored with blob, completes
	// w and, when deleteMedia is set, enqueues WorkDeleteTwilioMedia, all in
	// one transaction. ErrConflict when w's lease is no longer held, which is
	// also what a worker gets once the call was deleted (with its work).
	CompleteRecording(ctx context.Context, w Work, blob StoredBlob, deleteMedia bool) error

	// CompleteSummary stores the call's summary and completes w in one
	// transaction; with analyze, it enqueues the call's WorkAnalyzeCall in
	// the same transaction. ErrConflict when w's lease is no longer held
	// (the call deleted included).
	CompleteSummary(ctx context.Context, w Work, s Summary, analyze bool) error

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
}

// Store is a whole call store: the records, what the webhooks write, the
// work queue, the replica erasures, the retention window, and the assistants and numbers that
// answer the calls.
type Store interface {
	CallStore
	CallWriter
	WorkQueue
	ErasureQueue
	Retention
	Assistants
	Numbers
	Analyses
	Endpoints
	EventQueue
}

// CallReader reads one call or recording: what the worker needs of the
// call records besides its work.
type CallReader interface {
	// GetCall returns the call with its timeline (oldest first), turns
	// (by number, assistant after caller within a number), summary and
	// recordings. ErrNotFound when absent, deleted ones included.
	GetCall(ctx context.Context, sid string) (Call, error)

	// GetRecording returns one recording of a call. ErrNotFound when absent.
	GetRecording(ctx context.Context, callSID, sid string) (Recording, error)
}
