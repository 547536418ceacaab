package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

// enqueue adds work inside the transaction of the change that causes it.
// The unique key (kind, call, recording) makes a repeated cause a no-op.
func enqueue(ctx context.Context, tx pgx.Tx, kind storage.WorkKind, callSID, recordingSID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO work (kind, call_sid, recording_sid) VALUES ($1, $2, $3)
		ON CONFLICT (kind, call_sid, recording_sid) DO NOTHING`, kind, callSID, recordingSID)
	return err
}

// mirrorAttempts copies an archive item's attempt count to its recording,
// where the API shows it; other kinds never touch the recording's state.
const mirrorAttempts = `UPDATE recordings r SET attempts = w.attempts FROM w
	WHERE w.kind = 'archive_recording' AND r.sid = w.recording_sid`

const workCols = `id, kind, call_sid, recording_sid, attempts, last_error, lease, lease_until, run_id`

// ClaimWork leases the oldest due item. SKIP LOCKED lets concurrent
// claimers pass over a row another one is taking instead of queueing
// behind it, and the due test uses the caller's now (not the database
// clock) so leases and retries follow the caller's time.
func (s *Store) ClaimWork(ctx context.Context, now time.Time, lease time.Duration) (storage.Work, bool, error) {
	if lease <= 0 {
		return storage.Work{}, false, storage.Errorf(storage.ErrInvalid, "work lease must be positive")
	}
	now = norm(now)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var w storage.Work
	var token *string
	var until *time.Time
	var run *int64
	err := s.pool.QueryRow(ctx, `
		WITH w AS (
			UPDATE work SET attempts = attempts + 1, lease = $2, lease_until = $3
			WHERE id = (
				SELECT id FROM work
				WHERE (lease IS NULL AND (run_at IS NULL OR run_at <= $1))
				   OR (lease IS NOT NULL AND lease_until <= $1)
				ORDER BY id
				LIMIT 1
				FOR UPDATE SKIP LOCKED
			)
			RETURNING `+workCols+`
		), mirrored AS (`+mirrorAttempts+`)
		SELECT `+workCols+` FROM w`,
		now, newLease(), norm(now.Add(lease))).
		Scan(&w.ID, &w.Kind, &w.CallSID, &w.RecordingSID, &w.Attempts, &w.LastError, &token, &until, &run)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Work{}, false, nil
	}
	if err != nil {
		return storage.Work{}, false, translate(err, "claim work")
	}
	w.Lease, w.LeaseUntil, w.RunID = *token, until.UTC(), deref(run)
	return w, true, nil
}

// finish removes w while its lease is held and returns its kind, call and
// recording. Zero rows means another worker owns it now (or it is gone).
// It first takes a key-share lock on the call, as the row the completion
// may add (summary, media deletion) would by its foreign key, so the lock
// order is the one DeleteCall uses: call, work item, recording.
func finish(ctx context.Context, tx pgx.Tx, w storage.Work) (kind storage.WorkKind, callSID, recordingSID string, err error) {
	if w.Lease == "" {
		return "", "", "", errLostLease
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM calls WHERE sid = (SELECT call_sid FROM work WHERE id = $1) FOR KEY SHARE`, w.ID)
	b.Queue(`DELETE FROM work WHERE id = $1 AND lease = $2 RETURNING kind, call_sid, recording_sid`, w.ID, w.Lease)
	br := tx.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return "", "", "", err
	}
	err = br.QueryRow().Scan(&kind, &callSID, &recordingSID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = errLostLease
	}
	return kind, callSID, recordingSID, err
}

// CompleteRecording stores the archive result, finishes the work and
// enqueues the media deletion in one transaction: the Twilio copy is only
// deleted once this commit says the blob is ours.
func (s *Store) CompleteRecording(ctx context.Context, w storage.Work, blob storage.StoredBlob, deleteMedia bool) error {
	if err := storage.CheckKey(blob.Key); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.inTx(ctx, "complete recording", func(tx pgx.Tx) error {
		kind, callSID, recSID, err := finish(ctx, tx, w)
		if err != nil {
			return err
		}
		if kind != storage.WorkArchiveRecording {
			return storage.Errorf(storage.ErrInvalid, "work is not a recording to archive")
		}
		tag, err := tx.Exec(ctx, `UPDATE recordings SET state = 'stored', blob_key = $2, size = $3, sha256 = $4,
			content_type = $5, stored_at = $6, last_error = '' WHERE sid = $1`,
			recSID, blob.Key, blob.Size, blob.SHA256, blob.ContentType, norm(time.Now()))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.Errorf(storage.ErrInvalid, "work is not a recording to archive")
		}
		if err := recordEvent(ctx, tx, storage.EventRecordingStored, callSID, recSID); err != nil {
			return err
		}
		if deleteMedia {
			return enqueue(ctx, tx, storage.WorkDeleteTwilioMedia, callSID, recSID)
		}
		return nil
	})
}

// CompleteSummary stores the summary, finishes the work and, with analyze,
// enqueues the call's analysis, in one transaction.
func (s *Store) CompleteSummary(ctx context.Context, w storage.Work, sum storage.Summary, analyze bool) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.inTx(ctx, "complete summary", func(tx pgx.Tx) error {
		kind, callSID, _, err := finish(ctx, tx, w)
		if err != nil {
			return err
		}
		if kind != storage.WorkSummarizeCall {
			return storage.Errorf(storage.ErrInvalid, "work is not a call to summarize")
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO summaries (call_sid, text, reason, outcome, follow_up, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (call_sid) DO UPDATE SET text = excluded.text, reason = excluded.reason,
				outcome = excluded.outcome, follow_up = excluded.follow_up, created_at = excluded.created_at`,
			callSID, sum.Text, sum.Reason, sum.Outcome, sum.FollowUp, orNow(sum.CreatedAt))
		if err != nil {
			return err
		}
		if !analyze {
			// Without an analysis to wait for, the call is summarized now.
			return recordEvent(ctx, tx, storage.EventCallSummarized, callSID, "")
		}
		return enqueue(ctx, tx, storage.WorkAnalyzeCall, callSID, "")
	})
}

// CompleteWork finishes work that has no result to store.
func (s *Store) CompleteWork(ctx context.Context, w storage.Work) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.inTx(ctx, "complete work", func(tx pgx.Tx) error {
		_, _, _, err := finish(ctx, tx, w)
		return err
	})
}

// FailWork keeps the error on the work and on its recording or analysis
// run (where the API shows it) and either schedules the retry or gives up,
// in one statement.
func (s *Store) FailWork(ctx context.Context, w storage.Work, f storage.Failure) error {
	if w.Lease == "" {
		return errLostLease
	}
	var retryAt *time.Time
	if !f.RetryAt.IsZero() {
		t := norm(f.RetryAt)
		retryAt = &t
	}
	change := `UPDATE work SET last_error = $3, lease = NULL, lease_until = NULL, run_at = $4
		WHERE id = $1 AND lease = $2 RETURNING kind, call_sid, recording_sid, attempts, run_id`
	state := "state"
	runs := "failed"
	summarized := ""
	if f.Final {
		change = `DELETE FROM work WHERE id = $1 AND lease = $2 RETURNING kind, call_sid, recording_sid, attempts, run_id`
		state = "'failed'"
		runs = "failed + 1"
		// The summary's event waited for the call's analysis, which will
		// not come now: it goes without.
		summarized = `, summarized AS (` + eventInsert(storage.EventCallSummarized,
			`w.call_sid, '' FROM w WHERE w.kind = 'analyze_call' AND w.run_id IS NULL`) + `)`
	}
	args := []any{w.ID, w.Lease, f.Err}
	if !f.Final {
		args = append(args, retryAt)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH w AS (`+change+`), rec AS (
			UPDATE recordings r SET last_error = $3, attempts = w.attempts, state = `+state+` FROM w
			WHERE w.kind = 'archive_recording' AND r.sid = w.recording_sid
		), run AS (
			UPDATE analysis_runs r SET failed = `+runs+`, last_error = $3 FROM w WHERE r.id = w.run_id
		)`+summarized+`
		SELECT count(*) FROM w`, args...).Scan(&n)
	if err != nil {
		return translate(err, "fail work")
	}
	if n == 0 {
		return errLostLease
	}
	return nil
}

// ReleaseWork hands the work back untried: due at once, the attempt uncounted.
func (s *Store) ReleaseWork(ctx context.Context, w storage.Work) error {
	if w.Lease == "" {
		return errLostLease
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH w AS (
			UPDATE work SET attempts = attempts - 1, lease = NULL, lease_until = NULL, run_at = NULL
			WHERE id = $1 AND lease = $2 RETURNING kind, recording_sid, attempts
		), mirrored AS (`+mirrorAttempts+`)
		SELECT count(*) FROM w`, w.ID, w.Lease).Scan(&n)
	if err != nil {
		return translate(err, "release work")
	}
	if n == 0 {
		return errLostLease
	}
	return nil
}
