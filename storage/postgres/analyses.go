package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

var _ storage.Analyses = (*Store)(nil)

// runCols reads a run and its progress: pending is its queued work.
const runCols = `r.id, r.assistant_id, r.version, r.since, r.total, r.done, r.failed, r.last_error, r.created_at,
	(SELECT count(*) FROM work WHERE run_id = r.id)`

func scanRun(row pgx.Row) (storage.AnalysisRun, error) {
	var r storage.AnalysisRun
	err := row.Scan(&r.ID, &r.AssistantID, &r.Version, &r.Since, &r.Total, &r.Done, &r.Failed, &r.LastError, &r.CreatedAt, &r.Pending)
	r.Since, r.CreatedAt = utcPtr(r.Since), r.CreatedAt.UTC()
	r.Status = storage.RunCompleted
	if r.Pending > 0 {
		r.Status = storage.RunRunning
	}
	return r, err
}

// StartAnalysisRun holds the assistant's row while it checks that no run of
// it is still going and enqueues the calls, so two requests cannot start
// two runs. The work is inserted by one INSERT … SELECT over
// calls_assistant_created_idx: a call with its analysis already queued
// (after its summary) joins the run instead of being queued twice.
func (s *Store) StartAnalysisRun(ctx context.Context, assistantID string, since time.Time) (storage.AnalysisRun, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var run storage.AnalysisRun
	err := s.inTx(ctx, "start analysis run", func(tx pgx.Tx) error {
		var version int
		var schema *string
		err := tx.QueryRow(ctx, `SELECT a.version, v.settings->>'analysis_schema' FROM assistants a
			JOIN assistant_versions v ON v.assistant_id = a.id AND v.version = a.version
			WHERE a.id = $1 FOR UPDATE OF a`, assistantID).Scan(&version, &schema)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAssistantNotFound
		}
		if err != nil {
			return err
		}
		if schema == nil {
			return storage.Errorf(storage.ErrConflict, "the assistant has no analysis_schema to analyze calls with")
		}
		var running int64
		err = tx.QueryRow(ctx, `SELECT r.id FROM analysis_runs r WHERE r.assistant_id = $1
			AND EXISTS (SELECT 1 FROM work WHERE run_id = r.id) LIMIT 1`, assistantID).Scan(&running)
		if err == nil {
			return storage.Errorf(storage.ErrConflict, "analysis run %d of this assistant is still running", running)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var sinceArg *time.Time
		if !since.IsZero() {
			t := norm(since)
			sinceArg = &t
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO analysis_runs (assistant_id, version, since, created_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, assistantID, version, sinceArg, norm(time.Now())).Scan(&id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO work (kind, call_sid, recording_sid, run_id)
			SELECT $1, sid, '', $2 FROM calls
			WHERE assistant_id = $3 AND ended_at IS NOT NULL AND ($4::timestamptz IS NULL OR created_at >= $4)
			ON CONFLICT (kind, call_sid, recording_sid) DO UPDATE SET run_id = excluded.run_id`,
			storage.WorkAnalyzeCall, id, assistantID, sinceArg)
		if err != nil {
			return err
		}
		run, err = scanRun(tx.QueryRow(ctx, `UPDATE analysis_runs r SET total = $2 WHERE id = $1 RETURNING `+runCols,
			id, tag.RowsAffected()))
		return err
	})
	if err != nil {
		return storage.AnalysisRun{}, err
	}
	return run, nil
}

// GetAnalysisRun reads a run; its pending count is counted on work_run_idx.
func (s *Store) GetAnalysisRun(ctx context.Context, id int64) (storage.AnalysisRun, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM analysis_runs r WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.AnalysisRun{}, storage.Errorf(storage.ErrNotFound, "analysis run not found")
	}
	if err != nil {
		return storage.AnalysisRun{}, translate(err, "get analysis run")
	}
	return r, nil
}

// CompleteAnalysis stores the analysis and finishes the work in one
// transaction, unless the work joined a run after it was claimed: then it
// is handed back (due at once, the attempt uncounted) to be done for the
// run, with the run's version.
func (s *Store) CompleteAnalysis(ctx context.Context, w storage.Work, a storage.Analysis) error {
	if !storage.IsJSONObject(a.Fields) {
		return storage.Errorf(storage.ErrInvalid, "analysis fields must be a JSON object")
	}
	if w.Lease == "" {
		return errLostLease
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.inTx(ctx, "complete analysis", func(tx pgx.Tx) error {
		var kind storage.WorkKind
		var run *int64
		// Lock order as finish's: the call, then the work item.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM calls WHERE sid = $1 FOR KEY SHARE`, w.CallSID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT kind, run_id FROM work WHERE id = $1 AND lease = $2 FOR UPDATE`, w.ID, w.Lease).Scan(&kind, &run)
		if errors.Is(err, pgx.ErrNoRows) {
			return errLostLease
		}
		if err != nil {
			return err
		}
		if kind != storage.WorkAnalyzeCall {
			return storage.Errorf(storage.ErrInvalid, "work is not a call to analyze")
		}
		if got := deref(run); got != w.RunID {
			_, err := tx.Exec(ctx, `UPDATE work SET attempts = attempts - 1, lease = NULL, lease_until = NULL, run_at = NULL
				WHERE id = $1`, w.ID)
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM work WHERE id = $1`, w.ID)
		b.Queue(`UPDATE calls SET analysis = $2::jsonb, analysis_version = $3, analyzed_at = $4 WHERE sid = $1`,
			w.CallSID, string(a.Fields), a.AssistantVersion, orNow(a.CreatedAt))
		b.Queue(`UPDATE analysis_runs SET done = done + 1 WHERE id = $1`, w.RunID)
		if w.RunID == 0 {
			// The analysis that follows the summary completes the call's summary event.
			b.Queue(eventInsert(storage.EventCallSummarized, `$1::text, ''::text WHERE true`), w.CallSID)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
