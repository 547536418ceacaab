package memory

import (
	"context"
	"slices"
	"time"

	"switchboard/storage"
)

// purgeItem is a pending purge. A zero due time means due at once.
type purgeItem struct {
	p   storage.Purge // Lease is "" while nobody holds it
	due time.Time
}

// ExpireCalls deletes the oldest calls created before the given time, as
// many as limit, in one step under the store's lock.
func (s *Store) ExpireCalls(ctx context.Context, before time.Time, limit int, o storage.DeleteOptions) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "expiry limit must be at least 1")
	}
	before = norm(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []storage.Call
	for _, r := range s.calls {
		if r.call.CreatedAt.Before(before) {
			old = append(old, r.call)
		}
	}
	slices.SortFunc(old, func(a, b storage.Call) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return compareStrings(a.SID, b.SID)
	})
	old = old[:min(limit, len(old))]
	now := norm(time.Now())
	for _, c := range old {
		s.removeCall(c.SID, now, o)
	}
	return len(old), nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// purgeOf returns the index of call sid's pending purge, or -1. The
// caller holds s.mu.
func (s *Store) purgeOf(sid string) int {
	return slices.IndexFunc(s.purges, func(it *purgeItem) bool { return it.p.CallSID == sid })
}

// heldPurge returns the index of p's item while p's lease is the current one.
func (s *Store) heldPurge(p storage.Purge) (int, error) {
	i := s.purgeOf(p.CallSID)
	if i < 0 || p.Lease == "" || s.purges[i].p.Lease != p.Lease {
		return 0, lostLease()
	}
	return i, nil
}

func clonePurge(p storage.Purge) storage.Purge {
	p.Keys, p.Media = slices.Clone(p.Keys), slices.Clone(p.Media)
	return p
}

// ClaimPurge leases the oldest due purge; s.purges is in expiry order.
func (s *Store) ClaimPurge(ctx context.Context, now time.Time, lease time.Duration) (storage.Purge, bool, error) {
	if lease <= 0 {
		return storage.Purge{}, false, storage.Errorf(storage.ErrInvalid, "purge lease must be positive")
	}
	now = norm(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.purges {
		if it.p.Lease == "" && it.due.After(now) || it.p.Lease != "" && it.p.LeaseUntil.After(now) {
			continue
		}
		it.p.Attempts++
		it.p.Lease = newLease()
		it.p.LeaseUntil = norm(now.Add(lease))
		return clonePurge(it.p), true, nil
	}
	return storage.Purge{}, false, nil
}

// FinishPurge removes the purge.
func (s *Store) FinishPurge(ctx context.Context, p storage.Purge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.heldPurge(p)
	if err != nil {
		return err
	}
	s.purges = slices.Delete(s.purges, i, i+1)
	return nil
}

// FailPurge keeps the error and schedules the retry.
func (s *Store) FailPurge(ctx context.Context, p storage.Purge, msg string, retryAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.heldPurge(p)
	if err != nil {
		return err
	}
	it := s.purges[i]
	it.p.LastError = msg
	it.p.Lease, it.p.LeaseUntil = "", time.Time{}
	it.due = norm(retryAt)
	return nil
}

// ReleasePurge hands the purge back untried.
func (s *Store) ReleasePurge(ctx context.Context, p storage.Purge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.heldPurge(p)
	if err != nil {
		return err
	}
	it := s.purges[i]
	it.p.Attempts--
	it.p.Lease, it.p.LeaseUntil = "", time.Time{}
	it.due = time.Time{}
	return nil
}
