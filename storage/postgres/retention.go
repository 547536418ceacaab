package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

var _ storage.Retention = (*Store)(nil)

// ExpireCalls deletes one batch of expired calls in one transaction. It
// locks the calls first, skipping any another transaction holds (a webhook
// in flight; the next batch takes it), then their work and recordings, in
// the order DeleteCall takes them, so neither deadlocks with the other or
// with a worker. The tombstones, purges, replica erasures and the delete
// that cascades to every row the calls own go in one pipelined batch.
func (s *Store) ExpireCalls(ctx context.Context, before time.Time, limit int, o storage.DeleteOptions) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "expiry limit must be at least 1")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := 0
	err := s.inTx(ctx, "expire calls", func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT sid FROM calls WHERE created_at < $1
			ORDER BY created_at, sid LIMIT $2 FOR UPDATE SKIP LOCKED`, norm(before), limit)
		sids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(sids) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM work WHERE call_sid = ANY($1) ORDER BY id FOR UPDATE`, sids); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT `+recordingCols+` FROM recordings WHERE call_sid = ANY($1) ORDER BY id FOR UPDATE`, sids)
		recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Recording, error) { return scanRecording(r) })
		if err != nil {
			return err
		}
		byCall := map[string][]storage.Recording{}
		for _, r := range recs {
			byCall[r.CallSID] = append(byCall[r.CallSID], r)
		}
		now := norm(time.Now())
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO call_tombstones (sid, deleted_at) SELECT unnest($1::text[]), $2
			ON CONFLICT (sid) DO UPDATE SET deleted_at = excluded.deleted_at`, sids, now)
		for _, sid := range sids {
			rs := byCall[sid]
			if len(rs) == 0 {
				continue
			}
			keys := storage.BlobKeys(rs)
			queuePurge(b, sid, rs, now)
			if o.ReplicaBucket != "" && len(keys) > 0 {
				b.Queue(`INSERT INTO blob_erasures (call_sid, bucket, keys, deleted_at) VALUES ($1, $2, $3, $4)
					ON CONFLICT (call_sid) DO NOTHING`, sid, o.ReplicaBucket, keys, now)
			}
		}
		b.Queue(`DELETE FROM calls WHERE sid = ANY($1)`, sids)
		n = len(sids)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// queuePurge queues the purge of the audio of recs, the recordings of
// call sid deleted at the given time, in the batch that deletes the call
// and writes its tombstone, before the delete whose cascade takes the
// call's work: while a worker holds one of its archives (an upload may be
// running) the purge waits for that lease to end (see
// storage.CallStore.DeleteCall).
func queuePurge(b *pgx.Batch, sid string, recs []storage.Recording, deleted time.Time) {
	var media []string
	for _, m := range storage.MediaOf(recs) {
		media = append(media, m.AccountSID+"/"+m.RecordingSID)
	}
	b.Queue(`INSERT INTO call_purges (call_sid, keys, media, expired_at, run_at)
		SELECT $1, $2, $3, $4, (SELECT max(lease_until) FROM work
			WHERE call_sid = $1 AND kind = $5 AND lease IS NOT NULL AND lease_until > $4)
		ON CONFLICT (call_sid) DO UPDATE SET keys = excluded.keys, media = excluded.media, expired_at = excluded.expired_at`,
		sid, nonNil(storage.BlobKeys(recs)), nonNil(media), deleted, storage.WorkArchiveRecording)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const purgeCols = `call_sid, keys, media, expired_at, attempts, last_error, lease, lease_until`

// ClaimPurge leases the oldest due purge, as ClaimErasure does erasures.
func (s *Store) ClaimPurge(ctx context.Context, now time.Time, lease time.Duration) (storage.Purge, bool, error) {
	if lease <= 0 {
		return storage.Purge{}, false, storage.Errorf(storage.ErrInvalid, "purge lease must be positive")
	}
	now = norm(now)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var p storage.Purge
	var media []string
	var token *string
	var until *time.Time
	err := s.pool.QueryRow(ctx, `
		UPDATE call_purges SET attempts = attempts + 1, lease = $2, lease_until = $3
		WHERE call_sid = (
			SELECT call_sid FROM call_purges
			WHERE (lease IS NULL AND (run_at IS NULL OR run_at <= $1))
			   OR (lease IS NOT NULL AND lease_until <= $1)
			ORDER BY expired_at, call_sid
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		RETURNING `+purgeCols,
		now, newLease(), norm(now.Add(lease))).
		Scan(&p.CallSID, &p.Keys, &media, &p.ExpiredAt, &p.Attempts, &p.LastError, &token, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Purge{}, false, nil
	}
	if err != nil {
		return storage.Purge{}, false, translate(err, "claim purge")
	}
	for _, m := range media {
		account, rec, ok := strings.Cut(m, "/")
		if ok {
			p.Media = append(p.Media, storage.MediaRef{AccountSID: account, RecordingSID: rec})
		}
	}
	p.ExpiredAt, p.Lease, p.LeaseUntil = p.ExpiredAt.UTC(), *token, until.UTC()
	return p, true, nil
}

// FinishPurge removes the purge, guarded by its lease.
func (s *Store) FinishPurge(ctx context.Context, p storage.Purge) error {
	return s.changeLeased(ctx, p.CallSID, p.Lease, "finish purge", `
		WITH w AS (DELETE FROM call_purges WHERE call_sid = $1 AND lease = $2 RETURNING 1)
		SELECT count(*) FROM w`)
}

// FailPurge keeps the error and schedules the retry.
func (s *Store) FailPurge(ctx context.Context, p storage.Purge, msg string, retryAt time.Time) error {
	return s.changeLeased(ctx, p.CallSID, p.Lease, "fail purge", `
		WITH w AS (
			UPDATE call_purges SET last_error = $3, lease = NULL, lease_until = NULL, run_at = $4
			WHERE call_sid = $1 AND lease = $2
			RETURNING 1
		)
		SELECT count(*) FROM w`, msg, norm(retryAt))
}

// ReleasePurge hands the purge back untried.
func (s *Store) ReleasePurge(ctx context.Context, p storage.Purge) error {
	return s.changeLeased(ctx, p.CallSID, p.Lease, "release purge", `
		WITH w AS (
			UPDATE call_purges SET attempts = attempts - 1, lease = NULL, lease_until = NULL, run_at = NULL
			WHERE call_sid = $1 AND lease = $2
			RETURNING 1
		)
		SELECT count(*) FROM w`)
}
