package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

const turnCols = `call_sid, number, role, text, confidence, ends_call, error, created_at,
	interrupted, latency_first_token_ms, latency_first_text_ms, latency_last_text_ms`

func scanTurn(row pgx.Row) (storage.Turn, error) {
	var t storage.Turn
	var first, text, last *float64
	err := row.Scan(&t.CallSID, &t.Number, &t.Role, &t.Text, &t.Confidence, &t.EndsCall, &t.Error, &t.CreatedAt,
		&t.Interrupted, &first, &text, &last)
	t.CreatedAt = t.CreatedAt.UTC()
	if first != nil && text != nil && last != nil {
		t.Latency = &storage.Latency{FirstTokenMS: *first, FirstTextMS: *text, LastTextMS: *last}
	}
	return t, err
}

// latencyArgs are the latency columns' values: NULL for an untimed turn.
func latencyArgs(l *storage.Latency) (first, text, last *float64) {
	if l == nil {
		return nil, nil, nil
	}
	return &l.FirstTokenMS, &l.FirstTextMS, &l.LastTextMS
}

// AddTurn inserts the turn unless its (call, number, role) exists. The
// primary key decides between racing deliveries of the same webhook: the
// loser's insert does nothing and it reads the winner's turn, so both
// answer the caller with the same text.
func (s *Store) AddTurn(ctx context.Context, t storage.Turn) (storage.Turn, bool, error) {
	if err := t.Check(); err != nil {
		return storage.Turn{}, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	first, text, last := latencyArgs(t.Latency)
	got, err := scanTurn(s.pool.QueryRow(ctx, `
		INSERT INTO turns (`+turnCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (call_sid, number, role) DO NOTHING
		RETURNING `+turnCols,
		t.CallSID, t.Number, t.Role, t.Text, t.Confidence, t.EndsCall, t.Error, orNow(t.CreatedAt),
		t.Interrupted, first, text, last))
	if err == nil {
		return got, true, nil
	}
	if isMissingCall(err) {
		return storage.Turn{}, false, s.missingCall(ctx, t.CallSID)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Turn{}, false, translate(err, "add turn")
	}
	// Nothing inserted: the turn exists (the conflict's winner has
	// committed, or this statement would still be waiting on it).
	got, err = scanTurn(s.pool.QueryRow(ctx, `SELECT `+turnCols+` FROM turns
		WHERE call_sid = $1 AND number = $2 AND role = $3`, t.CallSID, t.Number, t.Role))
	if err != nil {
		return storage.Turn{}, false, translate(err, "add turn")
	}
	return got, false, nil
}

// InterruptTurn truncates the assistant turn to what the caller heard, once:
// the condition on interrupted makes a repeated or racing interruption a
// no-op that reads the turn as the first one left it.
func (s *Store) InterruptTurn(ctx context.Context, callSID string, number int, heard string) (storage.Turn, error) {
	if err := (storage.Turn{Number: number, Role: storage.RoleAssistant, Text: heard}).Check(); err != nil {
		return storage.Turn{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	got, err := scanTurn(s.pool.QueryRow(ctx, `
		UPDATE turns SET text = $4, interrupted = true
		WHERE call_sid = $1 AND number = $2 AND role = $3 AND NOT interrupted
		RETURNING `+turnCols, callSID, number, storage.RoleAssistant, heard))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Turn{}, translate(err, "interrupt turn")
	}
	got, err = scanTurn(s.pool.QueryRow(ctx, `SELECT `+turnCols+` FROM turns
		WHERE call_sid = $1 AND number = $2 AND role = $3`, callSID, number, storage.RoleAssistant))
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM calls WHERE sid = $1)`, callSID).Scan(&exists); err != nil {
			return storage.Turn{}, translate(err, "interrupt turn")
		}
		if !exists {
			return storage.Turn{}, s.missingCall(ctx, callSID)
		}
		return storage.Turn{}, storage.Errorf(storage.ErrNotFound, "assistant turn %d not found", number)
	}
	if err != nil {
		return storage.Turn{}, translate(err, "interrupt turn")
	}
	return got, nil
}
