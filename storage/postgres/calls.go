package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

const callCols = `sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration,
	assistant_id, assistant_version, analysis, analysis_version, analyzed_at`

// callColsOf is callCols qualified by a table or CTE name.
func callColsOf(t string) string {
	cols := strings.Split(callCols, ",")
	for i, c := range cols {
		cols[i] = t + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// callScan receives the callCols of one row.
type callScan struct {
	c               storage.Call
	analysis        []byte
	analysisVersion int
	analyzedAt      *time.Time
}

// dest is the Scan destinations of callCols, in order.
func (cs *callScan) dest() []any {
	c := &cs.c
	return []any{&c.SID, &c.AccountSID, &c.From, &c.To, &c.Direction, &c.Status,
		&c.CreatedAt, &c.UpdatedAt, &c.EndedAt, &c.Duration,
		&c.Assistant.ID, &c.Assistant.Version, &cs.analysis, &cs.analysisVersion, &cs.analyzedAt}
}

// call returns the scanned call, times in UTC.
func (cs *callScan) call() storage.Call {
	c := cs.c
	c.CreatedAt, c.UpdatedAt, c.EndedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), utcPtr(c.EndedAt)
	if cs.analysis != nil && cs.analyzedAt != nil {
		c.Analysis = &storage.Analysis{Fields: cs.analysis, AssistantVersion: cs.analysisVersion, CreatedAt: cs.analyzedAt.UTC()}
	}
	return c
}

func scanCall(row pgx.Row) (storage.Call, error) {
	var cs callScan
	err := row.Scan(cs.dest()...)
	return cs.call(), err
}

// routeOf is the assistant (ID and current version) that answers calls to
// the number $4, as a row source with no row when the number has none:
// a call's assistant is resolved in the statement that records the call,
// so the incoming-call webhook stays one round trip and a change to a
// number or an assistant is in effect for the very next call.
const routeOf = `(SELECT a.id, a.version FROM numbers n JOIN assistants a ON a.id = n.assistant_id WHERE n.number = $4)`

// upsertCall inserts the call ($1 sid, $2 account, $3 from, $4 to, $5
// direction, $6 status, $7 its rank, $8 now), or fills in the fields an
// earlier, sparser webhook left empty, in one statement: concurrent
// deliveries of the same call cannot create it twice. It inserts nothing
// under a tombstone; the calls_refuse_tombstoned trigger covers a delete
// that commits while the statement waits on the call's row.
//
// A new call is answered by its number's assistant (routeOf). A call
// created by a webhook that did not know its To number (a recording
// callback) takes its number's assistant when the number is filled in.
const upsertCall = `
	INSERT INTO calls AS c (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at,
		assistant_id, assistant_version)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $8::timestamptz,
		COALESCE(route.id, 'default'), COALESCE(route.version, 0)
	FROM (VALUES (1)) AS one (x) LEFT JOIN ` + routeOf + ` AS route ON true
	WHERE NOT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = $1)
	ON CONFLICT (sid) DO UPDATE SET
		assistant_id      = CASE WHEN c.to_number = '' THEN excluded.assistant_id ELSE c.assistant_id END,
		assistant_version = CASE WHEN c.to_number = '' THEN excluded.assistant_version ELSE c.assistant_version END,
		account_sid = CASE WHEN c.account_sid = '' THEN excluded.account_sid ELSE c.account_sid END,
		from_number = CASE WHEN c.from_number = '' THEN excluded.from_number ELSE c.from_number END,
		to_number   = CASE WHEN c.to_number   = '' THEN excluded.to_number   ELSE c.to_number   END,
		direction   = CASE WHEN c.direction   = '' THEN excluded.direction   ELSE c.direction   END
	RETURNING ` + callCols

func upsertArgs(nc storage.NewCall) []any {
	return []any{nc.SID, nc.AccountSID, nc.From, nc.To, nc.Direction, nc.Status, nc.Status.Rank(), orNow(nc.At)}
}

// startCall is StartCall's statement: upsertCall, the call.started event
// and the greeting. The greeting is the call's assistant version's, or $9
// (the default assistant's, with its error $12) when the call runs with
// the default; $10, $11 and $13 are its confidence, ends_call and time.
var startCall = `
	WITH call AS (` + upsertCall + `
	), started AS (` + eventInsert(storage.EventCallStarted, `call.sid, '' FROM call WHERE true`) + `
	), said AS (
		SELECT call.sid, COALESCE(v.settings->>'greeting', $9) AS text,
			CASE WHEN v.settings IS NULL THEN $12 ELSE '' END AS error
		FROM call LEFT JOIN assistant_versions v
			ON v.assistant_id = call.assistant_id AND v.version = call.assistant_version
	), greeting AS (
		INSERT INTO turns (` + turnCols + `)
		SELECT sid, 0, 'assistant', text, $10, $11, error, $13 FROM said WHERE text <> ''
		ON CONFLICT (call_sid, number, role) DO NOTHING
		RETURNING ` + turnCols + `
	), turn0 AS (
		SELECT ` + turnCols + ` FROM greeting
		UNION ALL
		SELECT ` + turnCols + ` FROM turns WHERE call_sid = $1 AND number = 0 AND role = 'assistant'
	)
	SELECT ` + callColsOf("call") + `,
		turn0.number, COALESCE(turn0.text, ''), COALESCE(turn0.confidence, 0), COALESCE(turn0.ends_call, false),
		COALESCE(turn0.error, ''), COALESCE(turn0.created_at, call.created_at), (SELECT text <> '' FROM said)
	FROM call LEFT JOIN turn0 ON true`

// StartCall upserts the call, with its number's assistant, and keeps the
// greeting of that assistant's version as turn 0 unless one exists, in one
// statement. The stored turn 0 is the greeting just inserted or the one
// read from the statement's snapshot; only when a concurrent delivery
// inserted it meanwhile is it read again.
func (s *Store) StartCall(ctx context.Context, nc storage.NewCall, greeting storage.Turn) (storage.Call, storage.Turn, error) {
	nc, err := nc.Check()
	if err != nil {
		return storage.Call{}, storage.Turn{}, err
	}
	greeting.CallSID, greeting.Number, greeting.Role = nc.SID, 0, storage.RoleAssistant
	if greeting.Text != "" {
		if err := greeting.Check(); err != nil {
			return storage.Call{}, storage.Turn{}, err
		}
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	args := append(upsertArgs(nc), greeting.Text, greeting.Confidence, greeting.EndsCall, greeting.Error, orNow(greeting.CreatedAt))
	var c storage.Call
	var t storage.Turn
	var has, greets bool
	var tnum *int
	var cs callScan
	_, err = sendRow(ctx, s, nc.SID, startCall, args, func(row pgx.Row) (struct{}, error) {
		return struct{}{}, row.Scan(append(cs.dest(), &tnum, &t.Text, &t.Confidence, &t.EndsCall, &t.Error, &t.CreatedAt, &greets)...)
	})
	if errors.Is(err, pgx.ErrNoRows) || isTombstoned(err) {
		return storage.Call{}, storage.Turn{}, storage.CallGone(nc.SID)
	}
	if err != nil {
		return storage.Call{}, storage.Turn{}, translate(err, "start call")
	}
	c = cs.call()
	has = tnum != nil
	if has {
		t.CallSID, t.Number, t.Role, t.CreatedAt = nc.SID, 0, storage.RoleAssistant, t.CreatedAt.UTC()
		return c, t, nil
	}
	if !greets {
		return c, storage.Turn{}, nil
	}
	// A concurrent delivery stored its greeting after this statement's
	// snapshot was taken: read the winner's.
	t, err = scanTurn(s.pool.QueryRow(ctx, `SELECT `+turnReadCols+` FROM turns
		WHERE call_sid = $1 AND number = 0 AND role = 'assistant'`, nc.SID))
	if err != nil {
		return storage.Call{}, storage.Turn{}, translate(err, "start call")
	}
	return c, t, nil
}

// GetCall reads the call and its parts in one repeatable-read snapshot, so
// the parts agree with each other. The five reads go as one pipelined batch:
// a call costs three round trips (begin, reads, commit) however many parts
// it has.
func (s *Store) GetCall(ctx context.Context, sid string) (storage.Call, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var c storage.Call
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT `+callCols+` FROM calls WHERE sid = $1`, sid)
		b.Queue(`SELECT status, at, sequence, duration FROM call_status_events
			WHERE call_sid = $1 ORDER BY at, sequence, id`, sid)
		b.Queue(`SELECT `+turnReadCols+` FROM turns
			WHERE call_sid = $1 ORDER BY number, role = 'assistant'`, sid)
		b.Queue(`SELECT text, reason, outcome, follow_up, created_at FROM summaries WHERE call_sid = $1`, sid)
		b.Queue(`SELECT `+recordingCols+` FROM recordings WHERE call_sid = $1 ORDER BY id`, sid)
		br := tx.SendBatch(ctx, b)
		err := readCall(br, &c)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return storage.Call{}, translate(err, "get call")
	}
	return c, nil
}

// readCall reads GetCall's batch results, in the order they were queued.
func readCall(br pgx.BatchResults, c *storage.Call) error {
	var err error
	*c, err = scanCall(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return errCallNotFound
	}
	if err != nil {
		return err
	}

	rows, _ := br.Query()
	c.Timeline, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.StatusEvent, error) {
		var e storage.StatusEvent
		err := r.Scan(&e.Status, &e.At, &e.Sequence, &e.Duration)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return err
	}
	if len(c.Timeline) == 0 {
		c.Timeline = nil
	}

	rows, _ = br.Query()
	c.Turns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Turn, error) { return scanTurn(r) })
	if err != nil {
		return err
	}
	c.Transfers = storage.TransfersOf(c.Turns)

	var sum storage.Summary
	err = br.QueryRow().Scan(&sum.Text, &sum.Reason, &sum.Outcome, &sum.FollowUp, &sum.CreatedAt)
	switch {
	case err == nil:
		sum.CreatedAt = sum.CreatedAt.UTC()
		c.Summary = &sum
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}

	rows, _ = br.Query()
	c.Recordings, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Recording, error) { return scanRecording(r) })
	return err
}

// ListCalls pages newest first with a keyset cursor on (created_at, sid):
// each filter combination is a range scan of one of the calls_*_idx indexes,
// however deep the page.
func (s *Store) ListCalls(ctx context.Context, f storage.CallFilter) (storage.CallPage, error) {
	limit, err := f.PageLimit()
	if err != nil {
		return storage.CallPage{}, err
	}
	q, args := listQuery(f, limit)
	if q == "" {
		return storage.CallPage{}, storage.Errorf(storage.ErrInvalid, "malformed cursor")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// An unnamed statement, planned for these values every time. A cached
	// prepared statement turns to a generic plan after five runs, and a
	// generic plan cannot know that the number's index finds a handful of
	// calls where the status's finds most of them: measured on 100,000
	// calls, a number search with a status and days took 64 ms generic,
	// 5 ms planned for its values (BenchmarkConsoleCallList).
	rows, _ := s.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	calls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Call, error) { return scanCall(r) })
	if err != nil {
		return storage.CallPage{}, translate(err, "list calls")
	}
	page := storage.CallPage{Calls: calls}
	if len(calls) > limit {
		page.Calls = calls[:limit:limit]
		last := page.Calls[limit-1]
		page.NextCursor = storage.EncodeCursor(last.CreatedAt, last.SID)
	}
	return page, nil
}

// listQuery builds the page query; only the filters in use appear, so the
// planner sees plain equality and range predicates it can match to an
// index. It returns "" for a malformed cursor (or an analysis value that
// does not encode, which ParseAnalysisMatch never makes).
//
// A number search (from or to) is the union of two branches, one per
// column, each an ordered range scan of that column's index limited to a
// page; the second leaves out what the first found, so the union has no
// duplicates and the planner merges the two scans in order (Merge Append)
// instead of sorting. (Without the limit in each branch the planner
// bitmap-scans and sorts every call of a busy number.)
func listQuery(f storage.CallFilter, limit int) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if f.Active {
		// A literal, not a parameter, so the planner can match it to the
		// partial index calls_active_created_idx in every plan.
		where = append(where, "status_rank < "+strconv.Itoa(storage.StatusCompleted.Rank()))
	}
	if f.From != "" {
		where = append(where, "from_number = "+arg(f.From))
	}
	if f.To != "" {
		where = append(where, "to_number = "+arg(f.To))
	}
	if f.Assistant != "" {
		where = append(where, "assistant_id = "+arg(f.Assistant))
	}
	for _, m := range f.Analysis {
		// Containment of a scalar at a path is equality there, and it is
		// what calls_analysis_idx (jsonb_path_ops) answers.
		doc, err := json.Marshal(m.Containment())
		if err != nil {
			return "", nil
		}
		where = append(where, "analysis @> "+arg(string(doc))+"::jsonb")
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+arg(norm(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+arg(norm(f.Until)))
	}
	if f.Cursor != "" {
		at, sid, err := storage.DecodeCursor(f.Cursor)
		if err != nil {
			return "", nil
		}
		// A row comparison: PostgreSQL uses it as an index condition on
		// every calls_*_idx after its equality column, so a page deep in
		// the history starts where the cursor points instead of scanning
		// (or bitmap-sorting) everything newer. Checked at a million rows
		// by TestListCallsPlan (PLAN_TEST_ROWS=1000000).
		ta, sa := arg(at), arg(sid)
		where = append(where, "(created_at, sid) < ("+ta+", "+sa+")")
	}
	const order = " ORDER BY created_at DESC, sid DESC LIMIT "
	if f.Number == "" {
		return "SELECT " + callCols + " FROM calls" + whereClause(where) + order + arg(limit+1), args
	}
	number, err := storage.NormalizeNumber(f.Number)
	if err != nil {
		return "", nil
	}
	from, to := numberCond("from_number", number, arg), numberCond("to_number", number, arg)
	n := arg(limit + 1)
	q := "SELECT " + callCols + " FROM (" +
		"(SELECT " + callCols + " FROM calls" + whereClause(append([]string{from}, where...)) + order + n + ")" +
		" UNION ALL " +
		"(SELECT " + callCols + " FROM calls" + whereClause(append([]string{to, "NOT (" + from + ")"}, where...)) + order + n + ")" +
		") AS c" + order + n
	return q, args
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// numberCond matches column against a normalized number search: equality
// for a full number (the column's calls_*_created_idx), else its last four
// digits (the calls_*_last4_idx expression index) and, for a longer
// suffix, the rest as a filter on what that index finds.
func numberCond(column, number string, arg func(any) string) string {
	if strings.HasPrefix(number, "+") {
		return column + " = " + arg(number)
	}
	c := "right(" + column + ", 4) = " + arg(number[len(number)-storage.MinNumberSuffix:])
	if len(number) > storage.MinNumberSuffix {
		c += " AND right(" + column + ", " + strconv.Itoa(len(number)) + ") = " + arg(number)
	}
	return c
}

// applyStatus is ApplyStatus in one statement. old locks the call's row and
// reads its rank as it is once locked, so concurrent callbacks of one call
// apply one after another; the call is inserted with the reported status
// when it does not exist; otherwise the status moves forward only (a
// terminal status is never replaced); a call created here, or learning its
// To number here, is answered by its number's assistant; the event enters
// the timeline once per status; and only the statement that made the call terminal (or
// created it terminal) enqueues its summary. Arguments: $1–$8 as for
// upsertCall with the reported status, $9 the event time, $10 terminal,
// $11 the duration, $12 the sequence number.
var applyStatus = `
	WITH old AS (
		SELECT sid, status_rank FROM calls WHERE sid = $1 FOR NO KEY UPDATE
	), route AS ` + routeOf + `, ins AS (
		INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at, ended_at, duration,
			assistant_id, assistant_version)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8::timestamptz, GREATEST($8::timestamptz, $9::timestamptz),
			CASE WHEN $10 THEN $9::timestamptz END, CASE WHEN $10 THEN $11::integer ELSE 0 END,
			COALESCE((SELECT id FROM route), 'default'), COALESCE((SELECT version FROM route), 0)
		WHERE NOT EXISTS (SELECT 1 FROM old) AND NOT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = $1)
		ON CONFLICT (sid) DO NOTHING
		RETURNING ` + callCols + `
	), upd AS (
		UPDATE calls c SET
			status      = CASE WHEN old.status_rank < $7 THEN $6 ELSE c.status END,
			status_rank = GREATEST(old.status_rank, $7),
			ended_at    = CASE WHEN old.status_rank < $7 AND $10 THEN $9::timestamptz ELSE c.ended_at END,
			duration    = CASE WHEN old.status_rank < $7 AND $10 THEN $11::integer ELSE c.duration END,
			updated_at  = CASE WHEN old.status_rank < $7
					OR NOT EXISTS (SELECT 1 FROM call_status_events WHERE call_sid = $1 AND status = $6)
				THEN GREATEST(c.updated_at, $9::timestamptz) ELSE c.updated_at END,
			account_sid = CASE WHEN c.account_sid = '' THEN $2 ELSE c.account_sid END,
			from_number = CASE WHEN c.from_number = '' THEN $3 ELSE c.from_number END,
			to_number   = CASE WHEN c.to_number   = '' THEN $4 ELSE c.to_number   END,
			direction   = CASE WHEN c.direction   = '' THEN $5 ELSE c.direction   END,
			assistant_id = CASE WHEN c.to_number = '' AND $4 <> ''
				THEN COALESCE((SELECT id FROM route), 'default') ELSE c.assistant_id END,
			assistant_version = CASE WHEN c.to_number = '' AND $4 <> ''
				THEN COALESCE((SELECT version FROM route), 0) ELSE c.assistant_version END
		FROM old WHERE c.sid = old.sid
		RETURNING ` + callColsOf("c") + `, old.status_rank AS old_rank
	), ev AS (
		INSERT INTO call_status_events (call_sid, status, at, sequence, duration)
		SELECT $1, $6, $9, $12, $11 WHERE EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM upd)
		ON CONFLICT (call_sid, status) DO NOTHING
	), summary AS (
		INSERT INTO work (kind, call_sid) SELECT 'summarize_call', $1
		WHERE $10 AND (EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM upd WHERE old_rank < $7))
		ON CONFLICT (kind, call_sid, recording_sid) DO NOTHING
	), ended AS (` + eventInsert(storage.EventCallEnded, `$1::text, ''
		WHERE $10 AND (EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM upd WHERE old_rank < $7))`) + `
	)
	SELECT ` + callCols + ` FROM ins
	UNION ALL
	SELECT ` + callCols + ` FROM upd`

// ApplyStatus applies a status callback in one statement (see applyStatus).
// It returns no row only for a tombstoned call, or when another webhook
// created the call between this statement's snapshot and its insert; that
// rare race is settled by running it once more.
func (s *Store) ApplyStatus(ctx context.Context, nc storage.NewCall, ev storage.StatusEvent) (storage.Call, error) {
	if !ev.Status.Valid() {
		return storage.Call{}, storage.Errorf(storage.ErrInvalid, "unknown call status")
	}
	nc.Status = ev.Status
	nc, err := nc.Check()
	if err != nil {
		return storage.Call{}, err
	}
	ev.At = orNow(ev.At)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	args := append(upsertArgs(nc), ev.At, ev.Status.Terminal(), ev.Duration, ev.Sequence)
	for attempt := 0; ; attempt++ {
		c, err := sendRow(ctx, s, nc.SID, applyStatus, args, scanCall)
		switch {
		case err == nil:
			return c, nil
		case isTombstoned(err):
			return storage.Call{}, storage.CallGone(nc.SID)
		case !errors.Is(err, pgx.ErrNoRows):
			return storage.Call{}, translate(err, "apply status")
		case attempt > 0:
			return storage.Call{}, s.missingCall(ctx, nc.SID)
		}
		if err := s.missingCall(ctx, nc.SID); errors.Is(err, storage.ErrGone) {
			return storage.Call{}, err
		}
	}
}

// DeleteCall locks the call first, so no recording or work can be added
// to it meanwhile (their foreign key checks wait on the lock) and the
// recordings it returns are all the call had; it refuses a call that has
// not ended, writes the tombstone, and everything the call owns then goes
// by cascade. Locks are taken in the order every path uses (call, work
// items, recordings), so a worker finishing an item of this call waits for
// the delete instead of deadlocking with it. Webhooks waiting on the call's
// row find it gone and the tombstone committed with it. The purge of the
// call's audio and the replica erasure, when asked for, are written in the
// same batch as the tombstone they hang off, so no crash can keep the
// deletion without them.
func (s *Store) DeleteCall(ctx context.Context, sid string, o storage.DeleteOptions) ([]storage.Recording, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var recs []storage.Recording
	err := s.inTx(ctx, "delete call", func(tx pgx.Tx) error {
		var status storage.CallStatus
		err := tx.QueryRow(ctx, `SELECT status FROM calls WHERE sid = $1 FOR UPDATE`, sid).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return errCallNotFound
		}
		if err != nil {
			return err
		}
		if err := storage.CheckDeletable(sid, status); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM work WHERE call_sid = $1 ORDER BY id FOR UPDATE`, sid); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT `+recordingCols+` FROM recordings WHERE call_sid = $1 ORDER BY id FOR UPDATE`, sid)
		recs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Recording, error) { return scanRecording(r) })
		if err != nil {
			return err
		}
		deleted := norm(time.Now())
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO call_tombstones (sid, deleted_at) VALUES ($1, $2)
			ON CONFLICT (sid) DO UPDATE SET deleted_at = excluded.deleted_at`, sid, deleted)
		keys := storage.BlobKeys(recs)
		if len(recs) > 0 {
			queuePurge(b, sid, recs, deleted)
		}
		if o.ReplicaBucket != "" && len(keys) > 0 {
			b.Queue(`INSERT INTO blob_erasures (call_sid, bucket, keys, deleted_at) VALUES ($1, $2, $3, $4)`, sid, o.ReplicaBucket, keys, deleted)
		}
		b.Queue(`DELETE FROM calls WHERE sid = $1`, sid)
		b.Queue(eventInsert(storage.EventCallDeleted, `$1::text, ''::text WHERE true`), sid)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// PurgeTombstones deletes the oldest expired tombstones in one bounded
// statement; SKIP LOCKED lets several instances purge at once without
// waiting on each other. A tombstone with a pending replica erasure or
// purge is passed over (their foreign keys would refuse the delete anyway).
func (s *Store) PurgeTombstones(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "purge limit must be at least 1")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM call_tombstones WHERE sid IN (
			SELECT sid FROM call_tombstones t WHERE deleted_at < $1
				AND NOT EXISTS (SELECT 1 FROM blob_erasures e WHERE e.call_sid = t.sid)
				AND NOT EXISTS (SELECT 1 FROM call_purges p WHERE p.call_sid = t.sid)
			ORDER BY deleted_at LIMIT $2
			FOR UPDATE SKIP LOCKED
		)`, norm(before), limit)
	if err != nil {
		return 0, translate(err, "purge tombstones")
	}
	return int(tag.RowsAffected()), nil
}
