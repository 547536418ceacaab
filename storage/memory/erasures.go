package memory

import (
	"context"
	"slices"
	"time"

	"switchboard/storage"
)

// erasureItem is a pending replica erasure. A zero due time means due at once.
type erasureItem struct {
	e   storage.Erasure // Lease is "" while nobody holds it
	due time.Time
}

// erasureOf returns the index of call sid's pending erasure, or -1. The
// caller holds s.mu.
func (s *Store) erasureOf(sid string) int {
	return slices.IndexFunc(s.erasures, func(it *erasureItem) bool { return it.e.CallSID == sid })
}

// heldErasure returns the index of e's item while e's lease is the current one.
func (s *Store) heldErasure(e storage.Erasure) (int, error) {
	i := s.erasureOf(e.CallSID)
	if i < 0 || e.Lease == "" || s.erasures[i].e.Lease != e.Lease {
		return 0, lostLease()
	}
	return i, nil
}

// cloneErasure copies e so the caller shares no memory with the store.
func cloneErasure(e storage.Erasure) storage.Erasure {
	e.Keys = slices.Clone(e.Keys)
	return e
}

// ClaimErasure leases the oldest due erasure; s.erasures is in deletion order.
func (s *Store) ClaimErasure(ctx context.Context, now time.Time, lease time.Duration) (storage.Erasure, bool, error) {
	if lease <= 0 {
		return storage.Erasure{}, false, storage.Errorf(storage.ErrInvalid, "erasure lease must be positive")
	}
	now = norm(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.erasures {
		if it.e.Lease == "" && it.due.After(now) || it.e.Lease != "" && it.e.LeaseUntil.After(now) {
			continue
		}
		it.e.Attempts++
		it.e.Lease = newLease()
		it.e.LeaseUntil = norm(now.Add(lease))
		return cloneErasure(it.e), true, nil
	}
	return storage.Erasure{}, false, nil
}

// FinishErasurePass moves the erasure to its next pass, or removes it after
// the last.
func (s *Store) FinishErasurePass(ctx context.Context, e storage.Erasure, next time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.heldErasure(e)
	if err != nil {
		return err
	}
	it := s.erasures[i]
	if it.e.Pass >= storage.ErasurePasses {
		s.erasures = slices.Delete(s.erasures, i, i+1)
		return nil
	}
	it.e.Pass++
	it.e.Attempts, it.e.LastError = 0, ""
	it.e.Lease, it.e.LeaseUntil = "", time.Time{}
	it.due = norm(next)
	return nil
}

// FailErasure keeps the error and schedules the retry.
func (s *Store) FailErasure(ctx context.Context, e storage.Erasure, msg string, retryAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.heldErasure(e)
	if err != nil {
		return err
	}
	it := s.erasures[i]
	it.e.LastError = msg
	it.e.Lease, it.e.LeaseUntil = "", time.Time{}
	it.due = norm(retryAt)
	return nil
}

// ReleaseErasure hands the erasure back untried.
func (s *Store) ReleaseErasure(ctx context.Context, e storage.Erasure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.heldErasure(e)
	if err != nil {
		return err
	}
	it := s.erasures[i]
	it.e.Attempts--
	it.e.Lease, it.e.LeaseUntil = "", time.Time{}
	it.due = time.Time{}
	return nil
}

// ErasureBacklog counts the pending erasures and the failing ones.
func (s *Store) ErasureBacklog(ctx context.Context) (storage.ErasureBacklog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := storage.ErasureBacklog{Pending: len(s.erasures)}
	for _, it := range s.erasures {
		if it.e.LastError != "" {
			b.Failing++
		}
	}
	return b, nil
}
