package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"switchboard/storage"
)

var (
	_ storage.Store           = (*Store)(nil)
	_ storage.Retention       = (*Store)(nil)
	_ storage.TurnInterrupter = (*Store)(nil)
)

// Store is an in-memory storage.CallStore. One mutex guards everything: the
// store serves a single developer or test, and a single lock makes every
// method one atomic step, like the PostgreSQL store's transactions.
type Store struct {
	mu         sync.Mutex
	calls      map[string]*callRecord
	recordings map[string]*storage.Recording // by recording SID, across calls
	work       []*workItem                   // ordered by ID, oldest first
	nextWorkID int64
	// tombstones holds the SIDs of deleted calls and when they were deleted.
	tombstones map[string]time.Time
	// erasures are the pending replica erasures, oldest deletion first; a
	// call has at most one, since its tombstone outlives it.
	erasures []*erasureItem
	// purges are the pending deletions of expired calls' audio, oldest
	// first; a call has at most one.
	purges []*purgeItem

	// assistants by ID, deleted ones included (their versions stay
	// readable); numbers by number; analysis runs by ID.
	assistants map[string]*assistantRecord
	numbers    map[string]storage.Number
	runs       map[int64]*storage.AnalysisRun
	nextRunID  int64

	// endpoints by ID, and their IDs oldest first; endpointTurn is when
	// each last had a delivery claimed (taking endpoints in turn).
	endpoints      map[string]*storage.Endpoint
	endpointOrder  []string
	endpointTurn   map[string]time.Time
	events         []*eventItem    // by ID, oldest first
	deliveries     []*deliveryItem // by ID, oldest first
	nextEventID    int64
	nextDeliveryID int64
}

// callRecord is a call and the parts it owns. The parts are kept apart from
// call so ListCalls and ApplyStatus can hand out the call without them.
type callRecord struct {
	call       storage.Call // Timeline, Turns, Summary and Recordings stay nil
	timeline   []storage.StatusEvent
	turns      map[turnKey]storage.Turn
	recordings []string // recording SIDs, in the order they were added
	summary    *storage.Summary
}

type turnKey struct {
	number int
	role   storage.Role
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		calls:        make(map[string]*callRecord),
		recordings:   make(map[string]*storage.Recording),
		tombstones:   make(map[string]time.Time),
		assistants:   make(map[string]*assistantRecord),
		numbers:      make(map[string]storage.Number),
		runs:         make(map[int64]*storage.AnalysisRun),
		endpoints:    make(map[string]*storage.Endpoint),
		endpointTurn: make(map[string]time.Time),
	}
}

// Ping always succeeds: memory is always reachable.
func (s *Store) Ping(ctx context.Context) error { return nil }

// norm brings a time to what PostgreSQL's timestamptz keeps (microseconds,
// no monotonic reading) so dev mode and production return the same values.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// normPtr copies *t normalized, so stored pointers are never shared with callers.
func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// orNow is t normalized, or the current time when the caller left t zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return norm(time.Now())
	}
	return norm(t)
}

// newLease returns a random token: unguessable, so a worker can only act on
// work it really claimed.
func newLease() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error (crypto/rand documents this)
	return hex.EncodeToString(b[:])
}

func notFoundCall() error { return storage.Errorf(storage.ErrNotFound, "call not found") }

// missingCall is the error of a write about call sid, which the store does
// not hold: ErrGone while its tombstone lasts, ErrNotFound otherwise. The
// caller holds s.mu.
func (s *Store) missingCall(sid string) error {
	if _, ok := s.tombstones[sid]; ok {
		return storage.CallGone(sid)
	}
	return notFoundCall()
}

func notFoundRecording() error {
	return storage.Errorf(storage.ErrNotFound, "recording not found")
}

func lostLease() error {
	return storage.Errorf(storage.ErrConflict, "work lease is no longer held")
}
