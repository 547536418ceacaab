package memory

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

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

// copyTurn keeps the stored turn's parts from being shared with callers.
func copyTurn(t storage.Turn) storage.Turn {
	if t.Latency != nil {
		l := *t.Latency
		t.Latency = &l
	}
	if t.ToolCalls != nil {
		calls := make([]storage.ToolCall, len(t.ToolCalls))
		for i, c := range t.ToolCalls {
			c.Arguments, c.Result = slices.Clone(c.Arguments), slices.Clone(c.Result)
			calls[i] = c
		}
		t.ToolCalls = calls
	}
	if t.Transfer != nil {
		tr := copyTransfer(*t.Transfer)
		t.Transfer = &tr
	}
	return t
}

func copyTransfer(tr storage.Transfer) storage.Transfer {
	tr.AnsweredAt, tr.EndedAt = normPtr(tr.AnsweredAt), normPtr(tr.EndedAt)
	return tr
}

var _ storage.TransferWriter = (*Store)(nil)

// AnswerTransfer records the target's answer on the turn's transfer.
func (s *Store) AnswerTransfer(ctx context.Context, callSID string, n int, childSID string, at time.Time) (storage.Transfer, error) {
	if !storage.ValidSID(childSID, "CA") {
		return storage.Transfer{}, storage.Errorf(storage.ErrInvalid, "the call leg's SID must be CA and 32 hex digits")
	}
	return s.changeTransfer(callSID, n, func(tr *storage.Transfer) { tr.ApplyAnswer(childSID, at) })
}

// EndTransfer records the outcome on the turn's transfer.
func (s *Store) EndTransfer(ctx context.Context, callSID string, n int, end storage.TransferEnd) (storage.Transfer, error) {
	if err := end.Check(); err != nil {
		return storage.Transfer{}, err
	}
	return s.changeTransfer(callSID, n, func(tr *storage.Transfer) { tr.ApplyEnd(end) })
}

func (s *Store) changeTransfer(callSID string, n int, change func(*storage.Transfer)) (storage.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.calls[callSID]
	if !ok {
		if err := s.missingCall(callSID); errors.Is(err, storage.ErrGone) {
			return storage.Transfer{}, err
		}
		return storage.Transfer{}, storage.Errorf(storage.ErrNotFound, "the call has no transfer at turn %d", n)
	}
	key := turnKey{n, storage.RoleAssistant}
	t, ok := r.turns[key]
	if !ok || t.Transfer == nil {
		return storage.Transfer{}, storage.Errorf(storage.ErrNotFound, "the call has no transfer at turn %d", n)
	}
	tr := copyTransfer(*t.Transfer)
	change(&tr)
	t.Transfer = &tr
	r.turns[key] = t
	if tr.EndedAt != nil {
		s.recordEvent(storage.EventTransferCompleted, callSID, strconv.Itoa(n), time.Time{})
	}
	return copyTransfer(tr), nil
}

// BeginTurn creates the call when it is missing and stores the caller's
// words of turn t.Number unless the turn was answered already, is silence,
// or cannot follow the conversation.
func (s *Store) BeginTurn(ctx context.Context, nc storage.NewCall, t storage.Turn) (storage.TurnState, error) {
	t.CallSID, t.Role = nc.SID, storage.RoleCaller
	if err := t.CheckCaller(); err != nil {
		return storage.TurnState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.upsert(nc)
	if err != nil {
		return storage.TurnState{}, err
	}
	st := storage.TurnState{Call: r.bare()}
	if answer, ok := r.turns[turnKey{t.Number, storage.RoleAssistant}]; ok {
		st.Answer = &answer
		return st, nil
	}
	turns := r.sortedTurns()
	key := turnKey{t.Number, storage.RoleCaller}
	if _, ok := r.turns[key]; !ok && t.Text != "" && storage.CheckSequence(turns, t.Number) == nil {
		t.CreatedAt = orNow(t.CreatedAt)
		r.turns[key] = t
		turns = r.sortedTurns()
	}
	if t.Text == "" {
		turns = slices.DeleteFunc(turns, func(t storage.Turn) bool { return t.Role != storage.RoleAssistant })
	}
	st.Turns = turns
	return st, nil
}
