package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

// turnCols are the columns every turn is written with; the columns of
// streamed replies (turnStreamCols) default to "not interrupted, untimed".
const (
	turnCols       = `call_sid, number, role, text, confidence, ends_call, error, created_at`
	turnStreamCols = `interrupted, latency_first_token_ms, latency_first_text_ms, latency_last_text_ms`
	turnReadCols   = turnCols + `, ` + turnStreamCols
)

// turnDest are the scan destinations of turnReadCols for t; done fills in
// the parts that need converting.
func turnDest(t *storage.Turn) (dest []any, done func()) {
	var first, text, last *float64
	dest = []any{&t.CallSID, &t.Number, &t.Role, &t.Text, &t.Confidence, &t.EndsCall, &t.Error, &t.CreatedAt,
		&t.Interrupted, &first, &text, &last}
	return dest, func() {
		t.CreatedAt = t.CreatedAt.UTC()
		t.Latency = nil
		if first != nil && text != nil && last != nil {
			t.Latency = &storage.Latency{FirstTokenMS: *first, FirstTextMS: *text, LastTextMS: *last}
		}
	}
}

func scanTurn(row pgx.Row) (storage.Turn, error) {
	var t storage.Turn
	dest, done := turnDest(&t)
	err := row.Scan(dest...)
	done()
	return t, err
}

// latencyArgs are the latency columns' values: NULL for an untimed turn.
func latencyArgs(l *storage.Latency) (first, text, last *float64) {
	if l == nil {
		return nil, nil, nil
	}
	return &l.FirstTokenMS, &l.FirstTextMS, &l.LastTextMS
}

// AddTurn inserts the turn unless its (call, number, role) exists, and
// returns the turn stored, in one statement. The primary key decides
// between racing deliveries of the same webhook: the loser's insert does
// nothing, and it reads the winner's turn — from its own snapshot when the
// winner committed before it started, else with one more query — so both
// answer the caller with the same text.
func (s *Store) AddTurn(ctx context.Context, t storage.Turn) (storage.Turn, bool, error) {
	if err := t.Check(); err != nil {
		return storage.Turn{}, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var got storage.Turn
	var created bool
	dest, done := turnDest(&got)
	first, text, last := latencyArgs(t.Latency)
	err := s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO turns (`+turnReadCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (call_sid, number, role) DO NOTHING
			RETURNING `+turnReadCols+`
		)
		SELECT `+turnReadCols+`, true FROM ins
		UNION ALL
		SELECT `+turnReadCols+`, false FROM turns
		WHERE call_sid = $1 AND number = $2 AND role = $3 AND NOT EXISTS (SELECT 1 FROM ins)`,
		t.CallSID, t.Number, t.Role, t.Text, t.Confidence, t.EndsCall, t.Error, orNow(t.CreatedAt),
		t.Interrupted, first, text, last).Scan(append(dest, &created)...)
	if err == nil {
		done()
		return got, created, nil
	}
	if isMissingCall(err) {
		return storage.Turn{}, false, s.missingCall(ctx, t.CallSID)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Turn{}, false, translate(err, "add turn")
	}
	// The winner of a race committed after this statement's snapshot.
	got, err = scanTurn(s.pool.QueryRow(ctx, `SELECT `+turnReadCols+` FROM turns
		WHERE call_sid = $1 AND number = $2 AND role = $3`, t.CallSID, t.Number, t.Role))
	if err != nil {
		return storage.Turn{}, false, translate(err, "add turn")
	}
	return got, false, nil
}

// BeginTurn is one pipelined batch, one round trip, run as one implicit
// transaction whose statements each see the ones before: the call upserted
// (created when the gather arrives first), the caller's words inserted
// only when the turn is unanswered, spoken and able to follow the
// conversation (storage.CheckSequence, in SQL), and then either the stored
// answer alone (a repeated delivery) or the conversation (for silence, the
// assistant's turns only).
func (s *Store) BeginTurn(ctx context.Context, nc storage.NewCall, t storage.Turn) (storage.TurnState, error) {
	t.CallSID, t.Role = nc.SID, storage.RoleCaller
	if err := t.CheckCaller(); err != nil {
		return storage.TurnState{}, err
	}
	nc, err := nc.Check()
	if err != nil {
		return storage.TurnState{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(upsertCall, upsertArgs(nc)...)
	b.Queue(`
		INSERT INTO turns (`+turnCols+`)
		SELECT $1, $2, 'caller', $3, $4, false, '', $5
		WHERE $3 <> ''
			AND EXISTS (SELECT 1 FROM calls WHERE sid = $1)
			AND NOT EXISTS (SELECT 1 FROM turns WHERE call_sid = $1 AND number = $2 AND role = 'assistant')
			AND NOT EXISTS (SELECT 1 FROM turns WHERE call_sid = $1 AND role = 'assistant' AND ends_call AND number < $2)
			AND $2 <= (SELECT COALESCE(max(number), 0) + 1 FROM turns WHERE call_sid = $1 AND role = 'assistant')
		ON CONFLICT (call_sid, number, role) DO NOTHING`,
		nc.SID, t.Number, t.Text, t.Confidence, orNow(t.CreatedAt))
	b.Queue(`
		SELECT `+turnReadCols+` FROM turns
		WHERE call_sid = $1 AND CASE
			WHEN EXISTS (SELECT 1 FROM turns WHERE call_sid = $1 AND number = $2 AND role = 'assistant')
				THEN number = $2 AND role = 'assistant'
			ELSE $3 OR role = 'assistant' END
		ORDER BY number, role = 'assistant'`, nc.SID, t.Number, t.Text != "")
	br := s.pool.SendBatch(ctx, b)
	st, err := readTurnState(br, t.Number)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows) || isTombstoned(err):
		return storage.TurnState{}, storage.CallGone(nc.SID)
	case err != nil:
		return storage.TurnState{}, translate(err, "begin turn")
	}
	return st, nil
}

func readTurnState(br pgx.BatchResults, n int) (storage.TurnState, error) {
	var st storage.TurnState
	var err error
	if st.Call, err = scanCall(br.QueryRow()); err != nil {
		return st, err
	}
	if _, err := br.Exec(); err != nil {
		return st, err
	}
	rows, _ := br.Query()
	turns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Turn, error) { return scanTurn(r) })
	if err != nil {
		return st, err
	}
	if len(turns) == 1 && turns[0].Number == n && turns[0].Role == storage.RoleAssistant {
		st.Answer = &turns[0]
		return st, nil
	}
	st.Turns = turns
	return st, nil
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
		RETURNING `+turnReadCols, callSID, number, storage.RoleAssistant, heard))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Turn{}, translate(err, "interrupt turn")
	}
	got, err = scanTurn(s.pool.QueryRow(ctx, `SELECT `+turnReadCols+` FROM turns
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
