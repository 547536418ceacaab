package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

const erasureCols = `call_sid, bucket, keys, deleted_at, pass, attempts, last_error, lease, lease_until`

// ClaimErasure leases the oldest due erasure, as ClaimWork does work: SKIP
// LOCKED passes over a row another claimer is taking, and the due test uses
// the caller's now.
func (s *Store) ClaimErasure(ctx context.Context, now time.Time, lease time.Duration) (storage.Erasure, bool, error) {
	if lease <= 0 {
		return storage.Erasure{}, false, storage.Errorf(storage.ErrInvalid, "erasure lease must be positive")
	}
	now = norm(now)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var e storage.Erasure
	var token *string
	var until *time.Time
	err := s.pool.QueryRow(ctx, `
		UPDATE blob_erasures SET attempts = attempts + 1, lease = $2, lease_until = $3
		WHERE call_sid = (
			SELECT call_sid FROM blob_erasures
			WHERE (lease IS NULL AND (run_at IS NULL OR run_at <= $1))
			   OR (lease IS NOT NULL AND lease_until <= $1)
			ORDER BY deleted_at, call_sid
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		RETURNING `+erasureCols,
		now, newLease(), norm(now.Add(lease))).
		Scan(&e.CallSID, &e.Bucket, &e.Keys, &e.DeletedAt, &e.Pass, &e.Attempts, &e.LastError, &token, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Erasure{}, false, nil
	}
	if err != nil {
		return storage.Erasure{}, false, translate(err, "claim erasure")
	}
	e.DeletedAt, e.Lease, e.LeaseUntil = e.DeletedAt.UTC(), *token, until.UTC()
	return e, true, nil
}

// FinishErasurePass removes the erasure after its last pass, or makes the
// next pass due at next, in one statement guarded by the lease.
func (s *Store) FinishErasurePass(ctx context.Context, e storage.Erasure, next time.Time) error {
	return s.changeLeased(ctx, e.CallSID, e.Lease, "finish erasure pass", `
		WITH done AS (
			DELETE FROM blob_erasures WHERE call_sid = $1 AND lease = $2 AND pass >= $3
			RETURNING 1
		), moved AS (
			UPDATE blob_erasures SET pass = pass + 1, attempts = 0, last_error = '',
				lease = NULL, lease_until = NULL, run_at = $4
			WHERE call_sid = $1 AND lease = $2 AND pass < $3
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM done) + (SELECT count(*) FROM moved)`,
		storage.ErasurePasses, norm(next))
}

// FailErasure keeps the error and schedules the retry.
func (s *Store) FailErasure(ctx context.Context, e storage.Erasure, msg string, retryAt time.Time) error {
	return s.changeLeased(ctx, e.CallSID, e.Lease, "fail erasure", `
		WITH w AS (
			UPDATE blob_erasures SET last_error = $3, lease = NULL, lease_until = NULL, run_at = $4
			WHERE call_sid = $1 AND lease = $2
			RETURNING 1
		)
		SELECT count(*) FROM w`,
		msg, norm(retryAt))
}

// ReleaseErasure hands the erasure back untried: due at once, the attempt
// uncounted.
func (s *Store) ReleaseErasure(ctx context.Context, e storage.Erasure) error {
	return s.changeLeased(ctx, e.CallSID, e.Lease, "release erasure", `
		WITH w AS (
			UPDATE blob_erasures SET attempts = attempts - 1, lease = NULL, lease_until = NULL, run_at = NULL
			WHERE call_sid = $1 AND lease = $2
			RETURNING 1
		)
		SELECT count(*) FROM w`)
}

// changeLeased runs q, which counts the rows it changed, with a leased
// item's call SID and lease as $1 and $2 and args after them; erasures and
// purges are both changed this way. No row changed means the lease is no
// longer held.
func (s *Store) changeLeased(ctx context.Context, callSID, lease, what, q string, args ...any) error {
	if lease == "" {
		return errLostLease
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, q, append([]any{callSID, lease}, args...)...).Scan(&n); err != nil {
		return translate(err, what)
	}
	if n == 0 {
		return errLostLease
	}
	return nil
}

// ErasureBacklog counts the pending erasures and the failing ones in one scan.
func (s *Store) ErasureBacklog(ctx context.Context) (storage.ErasureBacklog, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b storage.ErasureBacklog
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE last_error <> '') FROM blob_erasures`).
		Scan(&b.Pending, &b.Failing)
	if err != nil {
		return storage.ErasureBacklog{}, translate(err, "count erasures")
	}
	return b, nil
}
