package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

const callCols = `sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration`

func scanCall(row pgx.Row) (storage.Call, error) {
	var c storage.Call
	err := row.Scan(&c.SID, &c.AccountSID, &c.From, &c.To, &c.Direction, &c.Status,
		&c.CreatedAt, &c.UpdatedAt, &c.EndedAt, &c.Duration)
	c.CreatedAt, c.UpdatedAt, c.EndedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), utcPtr(c.EndedAt)
	return c, err
}

// UpsertCall inserts the call, or fills in the fields an earlier, sparser
// webhook left empty, in one statement: concurrent deliveries of the same
// incoming call cannot create it twice. The tombstone check is part of the
// same statement; the calls_refuse_tombstoned trigger covers a delete that
// commits while the statement waits on the call's row.
func (s *Store) UpsertCall(ctx context.Context, nc storage.NewCall) (storage.Call, error) {
	nc, err := nc.Check()
	if err != nil {
		return storage.Call{}, err
	}
	status := nc.Status
	at := orNow(nc.At)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c, err := scanCall(s.pool.QueryRow(ctx, `
		INSERT INTO calls AS c (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $8::timestamptz
		WHERE NOT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = $1)
		ON CONFLICT (sid) DO UPDATE SET
			account_sid = CASE WHEN c.account_sid = '' THEN excluded.account_sid ELSE c.account_sid END,
			from_number = CASE WHEN c.from_number = '' THEN excluded.from_number ELSE c.from_number END,
			to_number   = CASE WHEN c.to_number   = '' THEN excluded.to_number   ELSE c.to_number   END,
			direction   = CASE WHEN c.direction   = '' THEN excluded.direction   ELSE c.direction   END
		RETURNING `+callCols,
		nc.SID, nc.AccountSID, nc.From, nc.To, nc.Direction, status, status.Rank(), at))
	// Without a tombstone the statement always returns the row it inserted
	// or updated.
	if errors.Is(err, pgx.ErrNoRows) || isTombstoned(err) {
		return storage.Call{}, storage.CallGone(nc.SID)
	}
	return c, translate(err, "upsert call")
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
		b.Queue(`SELECT `+turnCols+` FROM turns
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
	rows, _ := s.pool.Query(ctx, q, args...)
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
// index. It returns "" for a malformed cursor.
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
	if f.From != "" {
		where = append(where, "from_number = "+arg(f.From))
	}
	if f.To != "" {
		where = append(where, "to_number = "+arg(f.To))
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
	q := "SELECT " + callCols + " FROM calls"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, sid DESC LIMIT " + arg(limit+1)
	return q, args
}

// ApplyStatus records the event and advances the call in one transaction.
// It first locks the call's row, so the status callbacks of one call apply
// one after another and always take their locks in the same order (the
// row, then the timeline), which leaves no room for a deadlock. The advance
// itself is a single UPDATE guarded by the status rank: a terminal status
// is never replaced, and only the transaction that made the call terminal
// enqueues its summary.
func (s *Store) ApplyStatus(ctx context.Context, sid string, ev storage.StatusEvent) (storage.Call, error) {
	if !ev.Status.Valid() {
		return storage.Call{}, storage.Errorf(storage.ErrInvalid, "unknown call status")
	}
	ev.At = orNow(ev.At)
	terminal := ev.Status.Terminal()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var c storage.Call
	err := s.inTx(ctx, "apply status", func(tx pgx.Tx) error {
		// One round trip for the four statements every callback runs. The
		// tombstone probe comes after the lock, so it sees a delete the lock
		// waited for; it is only read when the call is missing.
		b := &pgx.Batch{}
		b.Queue(`SELECT 1 FROM calls WHERE sid = $1 FOR NO KEY UPDATE`, sid)
		b.Queue(`SELECT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = $1)`, sid)
		b.Queue(`
			UPDATE calls SET status = $2, status_rank = $3,
				ended_at   = CASE WHEN $4 THEN $5 ELSE ended_at END,
				duration   = CASE WHEN $4 THEN $6 ELSE duration END,
				updated_at = GREATEST(updated_at, $5)
			WHERE sid = $1 AND status_rank < $3
			RETURNING `+callCols,
			sid, ev.Status, ev.Status.Rank(), terminal, ev.At, ev.Duration)
		b.Queue(`
			INSERT INTO call_status_events (call_sid, status, at, sequence, duration)
			SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM calls WHERE sid = $1)
			ON CONFLICT (call_sid, status) DO NOTHING`,
			sid, ev.Status, ev.At, ev.Sequence, ev.Duration)
		br := tx.SendBatch(ctx, b)
		var one int
		err := br.QueryRow().Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			var gone bool
			err = br.QueryRow().Scan(&gone)
			br.Close()
			switch {
			case err != nil:
				return err
			case gone:
				return storage.CallGone(sid)
			}
			return errCallNotFound
		}
		if err != nil {
			br.Close()
			return err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		c, err = scanCall(br.QueryRow())
		advanced := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			br.Close()
			return err
		}
		tag, err := br.Exec()
		if err := errors.Join(err, br.Close()); err != nil {
			return err
		}
		recorded := tag.RowsAffected() == 1
		switch {
		case advanced && terminal:
			return enqueue(ctx, tx, storage.WorkSummarizeCall, sid, "")
		case advanced:
			return nil
		}
		if !recorded {
			// A duplicate or stale callback: nothing changes.
			c, err = scanCall(tx.QueryRow(ctx, `SELECT `+callCols+` FROM calls WHERE sid = $1`, sid))
			return err
		}
		c, err = scanCall(tx.QueryRow(ctx, `UPDATE calls SET updated_at = GREATEST(updated_at, $2)
			WHERE sid = $1 RETURNING `+callCols, sid, ev.At))
		return err
	})
	if err != nil {
		return storage.Call{}, err
	}
	return c, nil
}

// DeleteCall locks the call first, so no recording or work can be added
// to it meanwhile (their foreign key checks wait on the lock) and the
// recordings it returns are all the call had; it refuses a call that has
// not ended, writes the tombstone, and everything the call owns then goes
// by cascade. Locks are taken in the order every path uses (call, work
// items, recordings), so a worker finishing an item of this call waits for
// the delete instead of deadlocking with it. Webhooks waiting on the call's
// row find it gone and the tombstone committed with it.
func (s *Store) DeleteCall(ctx context.Context, sid string) ([]storage.Recording, error) {
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
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO call_tombstones (sid, deleted_at) VALUES ($1, $2)
			ON CONFLICT (sid) DO UPDATE SET deleted_at = excluded.deleted_at`, sid, norm(time.Now()))
		b.Queue(`DELETE FROM calls WHERE sid = $1`, sid)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// PurgeTombstones deletes the oldest expired tombstones in one bounded
// statement; SKIP LOCKED lets several instances purge at once without
// waiting on each other.
func (s *Store) PurgeTombstones(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "purge limit must be at least 1")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM call_tombstones WHERE sid IN (
			SELECT sid FROM call_tombstones WHERE deleted_at < $1
			ORDER BY deleted_at LIMIT $2
			FOR UPDATE SKIP LOCKED
		)`, norm(before), limit)
	if err != nil {
		return 0, translate(err, "purge tombstones")
	}
	return int(tag.RowsAffected()), nil
}
