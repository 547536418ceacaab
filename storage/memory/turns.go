package memory

import (
	"context"

	"switchboard/storage"
)

// AddTurn stores t once per (call, number, role): a repeated webhook gets
// the turn stored the first time, so the caller hears the same reply.
func (s *Store) AddTurn(ctx context.Context, t storage.Turn) (storage.Turn, bool, error) {
	if t.Number < 0 || t.Number > storage.MaxTurn {
		return storage.Turn{}, false, storage.Errorf(storage.ErrInvalid, "turn number must be 0 to %d", storage.MaxTurn)
	}
	if t.Role != storage.RoleAssistant && t.Role != storage.RoleCaller {
		return storage.Turn{}, false, storage.Errorf(storage.ErrInvalid, "turn role must be %q or %q", storage.RoleAssistant, storage.RoleCaller)
	}
	if len(t.Text) > storage.MaxTurnText {
		return storage.Turn{}, false, storage.Errorf(storage.ErrInvalid, "turn text must be at most %d bytes", storage.MaxTurnText)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.calls[t.CallSID]
	if !ok {
		return storage.Turn{}, false, notFoundCall()
	}
	key := turnKey{t.Number, t.Role}
	if old, ok := r.turns[key]; ok {
		return old, false, nil
	}
	t.CreatedAt = orNow(t.CreatedAt)
	r.turns[key] = t
	return t, true, nil
}
