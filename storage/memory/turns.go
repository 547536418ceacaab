package memory

import (
	"context"

	"switchboard/storage"
)

// AddTurn stores t once per (call, number, role): a repeated webhook gets
// the turn stored the first time, so the caller hears the same reply.
func (s *Store) AddTurn(ctx context.Context, t storage.Turn) (storage.Turn, bool, error) {
	if err := t.Check(); err != nil {
		return storage.Turn{}, false, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.calls[t.CallSID]
	if !ok {
		return storage.Turn{}, false, s.missingCall(t.CallSID)
	}
	key := turnKey{t.Number, t.Role}
	if old, ok := r.turns[key]; ok {
		return old, false, nil
	}
	t.CreatedAt = orNow(t.CreatedAt)
	r.turns[key] = t
	return t, true, nil
}
