package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"switchboard/storage"
)

// translate turns a driver error into one of the storage error kinds, so
// the HTTP layer answers 404/409/400/503 without knowing about pgx. what
// names the operation for logs; the client-safe message never carries
// driver detail. Errors that are already of a kind pass through.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if storage.KindOf(err) != nil {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Wrap(storage.ErrNotFound, err, "not found")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !isConnectError(err) {
		switch code := pgErr.Code; {
		case code == sqlstateTombstoned:
			return storage.Wrap(storage.ErrGone, err, "call was deleted")
		case code == "23503": // foreign_key_violation: the owning call is gone
			return storage.Wrap(storage.ErrNotFound, err, "call not found")
		case code == "23505": // unique_violation outside an ON CONFLICT path
			return storage.Wrap(storage.ErrConflict, err, "already exists")
		case code[:2] == "22", code == "23502", code == "23514":
			// data exception, not-null or check violation: the input broke a rule
			return storage.Wrap(storage.ErrInvalid, err, "invalid value")
		case code[:2] == "08", // connection exception
			code == "57P01", code == "57P02", code == "57P03", // shutting down, crashed, starting up
			code == "57014",                  // statement_timeout (query_canceled)
			code == "53300",                  // too many connections
			code == "40001", code == "40P01", // serialization failure, deadlock: retry later
			code == "55P03": // lock not available
			return storage.Wrap(storage.ErrUnavailable, err, "database unavailable")
		}
		return fmt.Errorf("postgres %s: %w", what, err)
	}
	if unreachable(err) {
		return storage.Wrap(storage.ErrUnavailable, err, "database unavailable")
	}
	return fmt.Errorf("postgres %s: %w", what, err)
}

// sqlstateTombstoned is raised by the calls_refuse_tombstoned trigger (see
// migrations/00002_call_tombstones.sql) for a call created under the SID of
// a deleted call.
const sqlstateTombstoned = "SBGON"

func isTombstoned(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateTombstoned
}

// isMissingCall reports a foreign key violation: the call a row belongs to
// does not exist (or was deleted while the statement waited for it).
func isMissingCall(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// unreachable reports errors that mean "the database did not answer in
// time or the connection broke", as opposed to a rejected statement.
func unreachable(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		isConnectError(err) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, puddle.ErrClosedPool)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
