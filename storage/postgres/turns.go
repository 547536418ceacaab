package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

const turnCols = `call_sid, number, role, text, confidence, ends_call, error, created_at`

func scanTurn(row pgx.Row) (storage.Turn, error) {
	var t storage.Turn
	err := row.Scan(&t.CallSID, &t.Number, &t.Role, &t.Text, &t.Confidence, &t.EndsCall, &t.Error, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
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
	got, err := scanTurn(s.pool.QueryRow(ctx, `
		INSERT INTO turns (`+turnCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (call_sid, number, role) DO NOTHING
		RETURNING `+turnCols,
		t.CallSID, t.Number, t.Role, t.Text, t.Confidence, t.EndsCall, t.Error, orNow(t.CreatedAt)))
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
