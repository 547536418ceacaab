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
		return copyTurn(old), false, nil
	}
	t.CreatedAt = orNow(t.CreatedAt)
	t = copyTurn(t)
	r.turns[key] = t
	return copyTurn(t), true, nil
}

// InterruptTurn truncates the assistant turn to what the caller heard, the
// first time only.
func (s *Store) InterruptTurn(ctx context.Context, callSID string, number int, heard string) (storage.Turn, error) {
	if err := (storage.Turn{Number: number, Role: storage.RoleAssistant, Text: heard}).Check(); err != nil {
		return storage.Turn{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.calls[callSID]
	if !ok {
		return storage.Turn{}, s.missingCall(callSID)
	}
	key := turnKey{number, storage.RoleAssistant}
	t, ok := r.turns[key]
	if !ok {
		return storage.Turn{}, storage.Errorf(storage.ErrNotFound, "assistant turn %d not found", number)
	}
	if !t.Interrupted {
		t.Text, t.Interrupted = heard, true
		r.turns[key] = t
	}
	return copyTurn(t), nil
}

// copyTurn keeps the stored turn's latency from being shared with callers.
func copyTurn(t storage.Turn) storage.Turn {
	if t.Latency != nil {
		l := *t.Latency
		t.Latency = &l
	}
	return t
}
