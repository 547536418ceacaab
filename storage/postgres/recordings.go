package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

const recordingCols = `sid, call_sid, account_sid, source_url, duration, channels, started_at, state,
	blob_key, size, sha256, content_type, attempts, last_error, created_at, stored_at`

func scanRecording(row pgx.Row) (storage.Recording, error) {
	var r storage.Recording
	err := row.Scan(&r.SID, &r.CallSID, &r.AccountSID, &r.SourceURL, &r.Duration, &r.Channels, &r.StartedAt, &r.State,
		&r.BlobKey, &r.Size, &r.SHA256, &r.ContentType, &r.Attempts, &r.LastError, &r.CreatedAt, &r.StoredAt)
	r.StartedAt, r.CreatedAt, r.StoredAt = utcPtr(r.StartedAt), r.CreatedAt.UTC(), utcPtr(r.StoredAt)
	return r, err
}

// addRecording is AddRecording's statement. Archive results are only ever
// set by CompleteRecording and FailWork.
const addRecording = `
	WITH call AS (
		INSERT INTO calls (sid, account_sid, status, status_rank, created_at, updated_at)
		SELECT $2, $3, $12, $13, $10, $10
		WHERE NOT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = $2)
		ON CONFLICT (sid) DO NOTHING
	), rec AS (
		INSERT INTO recordings (sid, call_sid, account_sid, source_url, duration, channels, started_at, state, last_error, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (sid) DO NOTHING
		RETURNING ` + recordingCols + `
	), queued AS (
		INSERT INTO work (kind, call_sid, recording_sid)
		SELECT $11, call_sid, sid FROM rec WHERE state = 'pending'
		ON CONFLICT (kind, call_sid, recording_sid) DO NOTHING
	)
	SELECT ` + recordingCols + ` FROM rec`

// AddRecording inserts the recording unless its SID exists and, in the same
// statement, creates its call (in progress) when it is missing and enqueues
// archiving for a new pending recording: a recording is never stored
// without the work that archives it.
func (s *Store) AddRecording(ctx context.Context, r storage.Recording) (storage.Recording, bool, error) {
	r, err := r.CheckNew()
	if err != nil {
		return storage.Recording{}, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	args := []any{r.SID, r.CallSID, r.AccountSID, r.SourceURL, r.Duration, r.Channels, normPtr(r.StartedAt), r.State, r.LastError,
		orNow(r.CreatedAt), storage.WorkArchiveRecording, storage.StatusInProgress, storage.StatusInProgress.Rank()}
	got, err := sendRow(ctx, s, r.CallSID, addRecording, args, scanRecording)
	if err == nil {
		return got, true, nil
	}
	if isMissingCall(err) || isTombstoned(err) {
		return storage.Recording{}, false, s.missingCall(ctx, r.CallSID)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Recording{}, false, translate(err, "add recording")
	}
	got, err = scanRecording(s.pool.QueryRow(ctx, `SELECT `+recordingCols+` FROM recordings WHERE sid = $1`, r.SID))
	if err != nil {
		return storage.Recording{}, false, translate(err, "add recording")
	}
	return got, false, nil
}

// GetRecording finds the recording only under its own call, so a link
// naming another call cannot reach it.
func (s *Store) GetRecording(ctx context.Context, callSID, sid string) (storage.Recording, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := scanRecording(s.pool.QueryRow(ctx, `SELECT `+recordingCols+` FROM recordings
		WHERE sid = $1 AND call_sid = $2`, sid, callSID))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Recording{}, errRecordingNotFound
	}
	if err != nil {
		return storage.Recording{}, translate(err, "get recording")
	}
	return r, nil
}
