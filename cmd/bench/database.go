package main

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// Call-number spaces: each run works on calls of its own, seeded before any
// run starts, so no run finds the rows another left behind.
const (
	spaceWarmStatus = iota + 1
	spaceWarmTurn
	spaceStatus
	spacePgbenchStatus
	spaceTurn
	spacePgbenchTurn
	spaceFixedStatus
	spaceFixedTurn
	spaceDirectStatus
	spaceDirectTurn
)

// turnsPerCall is how many turns each call of the turn runs gets (turn.sql
// uses the same number): the scripted assistant ends a call at its tenth.
const turnsPerCall = 10

// callNumber and callSID number the seeded calls: status.sql and turn.sql
// compute the same SIDs.
func callNumber(space, client, i int) uint64 {
	return uint64(space)<<40 | uint64(client)<<24 | uint64(i)
}

func callSID(space, client, i int) string {
	return fmt.Sprintf("CA%032x", callNumber(space, client, i))
}

// database is the server under test and the benchmark's database on it.
type database struct {
	url, version string
	cluster      *pgtest.Cluster
}

// openDatabase uses the given URL, or starts a cluster and creates a
// database in it; either way the schema is migrated.
func openDatabase(ctx context.Context, dbURL string) (*database, error) {
	db := &database{url: dbURL}
	if dbURL == "" {
		c, err := pgtest.NewCluster(pgtest.Options{})
		if err != nil {
			return nil, err
		}
		db.cluster = c
		conn, err := pgx.Connect(ctx, c.AdminURL())
		if err != nil {
			db.close()
			return nil, err
		}
		_, err = conn.Exec(ctx, `CREATE DATABASE bench`)
		conn.Close(ctx)
		if err != nil {
			db.close()
			return nil, err
		}
		u, _ := url.Parse(c.AdminURL())
		u.Path = "/bench"
		db.url = u.String()
	}
	if err := postgres.Migrate(ctx, postgres.Config{URL: db.url, ConnectTimeout: 10 * time.Second}); err != nil {
		db.close()
		return nil, err
	}
	return db, nil
}

func (db *database) close() {
	if db.cluster != nil {
		db.cluster.Close()
	}
}

// seed inserts the in-progress calls every run works on.
func (db *database) seed(ctx context.Context, clients, perClient, fixed int) error {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&db.version); err != nil {
		return err
	}
	perCallTurns := perClient/turnsPerCall + 1
	for _, s := range []struct{ space, clients, calls int }{
		{spaceWarmStatus, clients, perClient},
		{spaceWarmTurn, clients, perCallTurns},
		{spaceStatus, clients, perClient},
		{spacePgbenchStatus, clients, perClient},
		{spaceTurn, clients, perCallTurns},
		{spacePgbenchTurn, clients, perCallTurns},
		{spaceDirectStatus, clients, perClient},
		{spaceDirectTurn, clients, perCallTurns},
		{spaceFixedStatus, 1, fixed},
		{spaceFixedTurn, 1, fixedTurnCalls(fixed)},
	} {
		_, err := conn.Exec(ctx, `
			INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at)
			SELECT 'CA' || lpad(to_hex(($1::bigint << 40) | (c::bigint << 24) | i), 32, '0'),
				$4, '+14155550100', '+18005550100', 'inbound', $5, $6, now(), now()
			FROM generate_series(0, $2 - 1) c, generate_series(0, $3 - 1) i`,
			s.space, s.clients, s.calls, servicetest.AccountSID, storage.StatusInProgress, storage.StatusInProgress.Rank())
		if err != nil {
			return fmt.Errorf("seeding calls: %w", err)
		}
	}
	_, err = conn.Exec(ctx, `VACUUM ANALYZE`)
	return err
}

// leftInProgress counts, for each client, the seeded calls of space a
// status run has not completed: zero means that client ran out of calls.
func (db *database) leftInProgress(ctx context.Context, space, clients int) ([]int, error) {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	left := make([]int, clients)
	for c := range clients {
		err := conn.QueryRow(ctx, `SELECT count(*) FROM calls WHERE sid BETWEEN $1 AND $2 AND status = 'in-progress'`,
			callSID(space, c, 0), callSID(space, c, 1<<24-1)).Scan(&left[c])
		if err != nil {
			return nil, err
		}
	}
	return left, nil
}

// effects counts what the runs on space did: calls completed (status.sql)
// or turn pairs stored (turn.sql).
func (db *database) effects(ctx context.Context, script string, space, clients int) (int, error) {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	lo, hi := callSID(space, 0, 0), callSID(space, clients, 0)
	q := `SELECT count(*) FROM calls WHERE sid >= $1 AND sid < $2 AND status = 'completed'`
	if script == "turn.sql" {
		q = `SELECT count(*) / 2 FROM turns WHERE call_sid >= $1 AND call_sid < $2`
	}
	var n int
	err = conn.QueryRow(ctx, q, lo, hi).Scan(&n)
	return n, err
}

func numCPU() int { return runtime.NumCPU() }
