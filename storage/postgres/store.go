// Package postgres is the PostgreSQL storage.CallStore (pgx/v5 pool), its
// embedded schema migrations and its configuration.
//
// Correctness under concurrency comes from the database, not from process
// memory: primary keys with ON CONFLICT DO NOTHING make calls, turns and
// recordings idempotent, a status moves forward in one conditional UPDATE,
// the work a change causes is written in the same transaction, and workers
// claim work with FOR UPDATE SKIP LOCKED and random lease tokens. Any number
// of instances may therefore share one database.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"switchboard/storage"
)

var (
	_ storage.Store           = (*Store)(nil)
	_ storage.TurnInterrupter = (*Store)(nil)
)

// Store is the PostgreSQL call store. It is safe for concurrent use.
type Store struct {
	pool         *pgxpool.Pool
	queryTimeout time.Duration
	// group sends the webhooks' writes together under load; nil when
	// Config.WriteConcurrency is 0.
	group *writeGroup
}

// Open validates cfg, applies migrations when cfg.MigrateOnStart, and
// builds the connection pool. The pool connects lazily and reconnects by
// itself, so Open succeeds while the database is down (unless it must
// migrate) and the store serves again as soon as the database is back;
// Ping tells readiness checks which state it is in.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MigrateOnStart {
		if err := Migrate(ctx, cfg); err != nil {
			return nil, err
		}
	}
	pc, err := cfg.poolConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, queryTimeout: cfg.QueryTimeout}
	if cfg.WriteConcurrency > 0 {
		s.group = &writeGroup{limit: min(cfg.WriteConcurrency, int(pc.MaxConns)), send: s.sendGroup}
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that a connection can be had and answers; ErrUnavailable when not.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return storage.Wrap(storage.ErrUnavailable, err, "database unavailable")
	}
	return nil
}

// bound limits a store call to the query timeout, whatever the caller's
// context says, so nothing waits on a stalled database past it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.queryTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.queryTimeout)
}

// inTx runs fn in a transaction and commits it; any error rolls back and
// is translated.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return translate(err, what)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return translate(err, what)
	}
	return translate(tx.Commit(ctx), what)
}

// norm brings a time to what timestamptz keeps: UTC, microseconds.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// orNow is t normalized, or now when the caller left it zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return norm(time.Now())
	}
	return norm(t)
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// utcPtr converts a scanned nullable timestamp to UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// newLease returns a random, unguessable lease token.
func newLease() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// missingCall says why a write found no call sid: ErrGone while the call's
// tombstone lasts, ErrNotFound otherwise. It runs only on that path (the
// write's foreign key refused it), so writes to live calls never pay for it.
func (s *Store) missingCall(ctx context.Context, sid string) error {
	var gone bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = $1)`, sid).Scan(&gone); err != nil {
		return translate(err, "look up tombstone")
	}
	if gone {
		return storage.CallGone(sid)
	}
	return errCallNotFound
}

var (
	errCallNotFound      = storage.Errorf(storage.ErrNotFound, "call not found")
	errRecordingNotFound = storage.Errorf(storage.ErrNotFound, "recording not found")
	errLostLease         = storage.Errorf(storage.ErrConflict, "work lease is no longer held")
)
