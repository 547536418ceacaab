package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

// turnCols are the columns every turn is written with; the columns of
// streamed replies (turnStreamCols) default to "not interrupted, untimed".
const (
	turnCols       = `call_sid, number, role, text, confidence, ends_call, error, created_at`
	turnStreamCols = `interrupted, latency_first_token_ms, latency_first_text_ms, latency_last_text_ms`
	turnActCols    = `tool_calls, transfer`
	turnReadCols   = turnCols + `, ` + turnStreamCols + `, ` + turnActCols
)

// turnDest are the scan destinations of turnReadCols for t; done fills in
// the parts that need converting.
func turnDest(t *storage.Turn) (dest []any, done func()) {
	var first, text, last *float64
	var calls, transfer []byte
	dest = []any{&t.CallSID, &t.Number, &t.Role, &t.Text, &t.Confidence, &t.EndsCall, &t.Error, &t.CreatedAt,
		&t.Interrupted, &first, &text, &last, &calls, &transfer}
	return dest, func() {
		t.CreatedAt = t.CreatedAt.UTC()
		t.Latency = nil
		if first != nil && text != nil && last != nil {
			t.Latency = &storage.Latency{FirstTokenMS: *first, FirstTextMS: *text, LastTextMS: *last}
		}
		t.ToolCalls, t.Transfer = nil, nil
		if len(calls) > 0 {
			_ = json.Unmarshal(calls, &t.ToolCalls) // written by actionArgs
		}
		if len(transfer) > 0 {
			var tr storage.Transfer
			if json.Unmarshal(transfer, &tr) == nil {
				t.Transfer = normTransfer(tr)
			}
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

// actionArgs are the tool_calls and transfer columns' values: NULL when
// the turn has none.
func actionArgs(t storage.Turn) (calls, transfer []byte, err error) {
	if t.ToolCalls != nil {
		if calls, err = json.Marshal(t.ToolCalls); err != nil {
			return nil, nil, storage.Wrap(storage.ErrInvalid, err, "tool calls do not encode")
		}
	}
	if t.Transfer != nil {
		if transfer, err = json.Marshal(t.Transfer); err != nil {
			return nil, nil, storage.Wrap(storage.ErrInvalid, err, "transfer does not encode")
		}
	}
	return calls, transfer, nil
}

func normTransfer(tr storage.Transfer) *storage.Transfer {
	tr.RequestedAt = tr.RequestedAt.UTC()
	tr.AnsweredAt, tr.EndedAt = normPtr(tr.AnsweredAt), normPtr(tr.EndedAt)
	return &tr
}

const addTurn = `
	INSERT INTO turns (` + turnReadCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (call_sid, number, role) DO NOTHING
	RETURNING ` + turnReadCols

// AddTurn inserts the turn unless its (call, number, role) exists, and
// returns the turn stored. The primary key decides between racing
// deliveries of the same webhook: the loser's insert does nothing and it
// reads the winner's turn with one more query, so both answer the caller
// with the same text. The insert is a plain INSERT … RETURNING: folding
// that read into it (a CTE and a UNION) would cost every turn about a
// sixth more backend work (callgrind, PostgreSQL 15) for a race that
// BeginTurn already makes rare (a repeated delivery finds the answer
// there).
func (s *Store) AddTurn(ctx context.Context, t storage.Turn) (storage.Turn, bool, error) {
	if err := t.Check(); err != nil {
		return storage.Turn{}, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	first, text, last := latencyArgs(t.Latency)
	calls, transfer, err := actionArgs(t)
	if err != nil {
		return storage.Turn{}, false, err
	}
	args := []any{t.CallSID, t.Number, t.Role, t.Text, t.Confidence, t.EndsCall, t.Error, orNow(t.CreatedAt),
		t.Interrupted, first, text, last, calls, transfer}
	got, err := sendRow(ctx, s, t.CallSID, addTurn, args, scanTurn)
	if err == nil {
		return got, true, nil
	}
	if isMissingCall(err) {
		return storage.Turn{}, false, s.missingCall(ctx, t.CallSID)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Turn{}, false, translate(err, "add turn")
	}
	got, err = scanTurn(s.pool.QueryRow(ctx, `SELECT `+turnReadCols+` FROM turns
		WHERE call_sid = $1 AND number = $2 AND role = $3`, t.CallSID, t.Number, t.Role))
	if err != nil {
		return storage.Turn{}, false, translate(err, "add turn")
	}
	return got, false, nil
}

// beginTurn inserts the caller's words ($3, turn $2 of call $1) only when
// the turn is unanswered, spoken and able to follow the conversation
// (storage.CheckSequence, in SQL).
// The assistant's turns are read once, in one range scan, for the
// three conditions on them (turn n unanswered, no earlier turn ended
// the call, n at most one past the last answer): three lookups cost a
// turn about a twentieth more backend work.
const beginTurn = `
	INSERT INTO turns (` + turnCols + `)
	SELECT $1, $2, 'caller', $3, $4, false, '', $5
	FROM (SELECT count(*) FILTER (WHERE number = $2 OR ends_call AND number < $2) AS blocking,
			COALESCE(max(number), 0) AS answered
		FROM turns WHERE call_sid = $1 AND role = 'assistant') assistant
	WHERE $3 <> '' AND assistant.blocking = 0 AND $2 <= assistant.answered + 1
		AND EXISTS (SELECT 1 FROM calls WHERE sid = $1)
	ON CONFLICT (call_sid, number, role) DO NOTHING`

// turnStateOf reads the stored answer to turn $2 alone (a repeated
// delivery), or else the conversation ($3 false, for silence: the
// assistant's turns only).
const turnStateOf = `
	SELECT ` + turnReadCols + ` FROM turns
	WHERE call_sid = $1 AND CASE
		WHEN EXISTS (SELECT 1 FROM turns WHERE call_sid = $1 AND number = $2 AND role = 'assistant')
			THEN number = $2 AND role = 'assistant'
		ELSE $3 OR role = 'assistant' END
	ORDER BY number, role = 'assistant'`

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
	var st storage.TurnState
	err = s.send(ctx, write{
		sid: nc.SID,
		queue: func(b *pgx.Batch) {
			b.Queue(upsertCall, upsertArgs(nc)...)
			b.Queue(beginTurn, nc.SID, t.Number, t.Text, t.Confidence, orNow(t.CreatedAt))
			b.Queue(turnStateOf, nc.SID, t.Number, t.Text != "")
		},
		read: func(br pgx.BatchResults) (err error) {
			st, err = readTurnState(br, t.Number)
			return err
		},
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows) || isTombstoned(err):
		return storage.TurnState{}, storage.CallGone(nc.SID)
	case err != nil:
		return storage.TurnState{}, translate(err, "begin turn")
	}
	return st, nil
}

// readTurnState reads BeginTurn's three results, all of them whatever the
// first says, so that the writes sent after it in a group read their own.
func readTurnState(br pgx.BatchResults, n int) (storage.TurnState, error) {
	var st storage.TurnState
	var err error
	st.Call, err = scanCall(br.QueryRow())
	_, ierr := br.Exec()
	rows, _ := br.Query()
	turns, rerr := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Turn, error) { return scanTurn(r) })
	if err := cmp.Or(err, ierr, rerr); err != nil {
		return storage.TurnState{}, err
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

var _ storage.TransferWriter = (*Store)(nil)

// AnswerTransfer records the target's answer in the turn's transfer, in
// one statement; the first answer is kept.
func (s *Store) AnswerTransfer(ctx context.Context, callSID string, n int, childSID string, at time.Time) (storage.Transfer, error) {
	if !storage.ValidSID(childSID, "CA") {
		return storage.Transfer{}, storage.Errorf(storage.ErrInvalid, "the call leg's SID must be CA and 32 hex digits")
	}
	return s.changeTransfer(ctx, callSID, n, false, `CASE WHEN transfer ? 'answered_at' OR transfer ? 'ended_at' THEN transfer
		ELSE transfer || jsonb_build_object('answered_at', $4::timestamptz, 'child_call_sid', $5::text, 'status', 'answered') END`,
		norm(at), childSID)
}

// EndTransfer records the outcome in the turn's transfer, in one
// statement; the first outcome is kept.
func (s *Store) EndTransfer(ctx context.Context, callSID string, n int, end storage.TransferEnd) (storage.Transfer, error) {
	if err := end.Check(); err != nil {
		return storage.Transfer{}, err
	}
	return s.changeTransfer(ctx, callSID, n, true, `CASE WHEN transfer ? 'ended_at' THEN transfer
		ELSE transfer || jsonb_build_object('ended_at', $4::timestamptz, 'status', $5::text, 'talk_seconds', $6::int,
			'child_call_sid', COALESCE(NULLIF(transfer->>'child_call_sid', ''), $7::text)) END`,
		norm(end.At), end.Status, end.TalkSeconds, end.ChildCallSID)
}

// changeTransfer sets the transfer of assistant turn n to the expression
// set (over the column transfer and args from $4) and returns it; when
// there is none it tells a missing transfer from a deleted call. With
// completes, the same statement records the transfer.completed event once
// the transfer has ended (the turn number is its subject).
func (s *Store) changeTransfer(ctx context.Context, callSID string, n int, completes bool, set string, args ...any) (storage.Transfer, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var doc []byte
	q := `UPDATE turns SET transfer = ` + set + `
		WHERE call_sid = $1 AND number = $2 AND role = $3 AND transfer IS NOT NULL
		RETURNING transfer`
	if completes {
		args = append(args, strconv.Itoa(n))
		q = `WITH t AS (` + q + `), ev AS (` + eventInsert(storage.EventTransferCompleted,
			`$1::text, $`+strconv.Itoa(len(args)+3)+`::text FROM t WHERE t.transfer ? 'ended_at'`) + `)
			SELECT transfer FROM t`
	}
	err := s.pool.QueryRow(ctx, q, append([]any{callSID, n, storage.RoleAssistant}, args...)...).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.missingCall(ctx, callSID); errors.Is(err, storage.ErrGone) {
			return storage.Transfer{}, err
		}
		return storage.Transfer{}, storage.Errorf(storage.ErrNotFound, "the call has no transfer at turn %d", n)
	}
	if err != nil {
		return storage.Transfer{}, translate(err, "change transfer")
	}
	var tr storage.Transfer
	if err := json.Unmarshal(doc, &tr); err != nil {
		return storage.Transfer{}, translate(err, "change transfer")
	}
	return *normTransfer(tr), nil
}
