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

// callNumber and callSID number the calls of the runs: space says which
// run a call belongs to, so no run finds rows another left behind, and the
// pgbench scripts compute the same SIDs in SQL.
func callNumber(space, client, i int) uint64 {
	return uint64(space)<<40 | uint64(client)<<24 | uint64(i)
}

func callSID(space, client, i int) string {
	return fmt.Sprintf("CA%032x", callNumber(space, client, i))
}

// sidSQL is callSID in SQL, of a bigint expression.
func sidSQL(n string) string { return `'CA' || lpad(to_hex(` + n + `), 32, '0')` }

// database is the server under test and the benchmark's database on it.
type database struct {
	url, version string
	cluster      *pgtest.Cluster
	// statements says pg_stat_statements is loaded and created.
	statements bool
	// postmaster is the server's process id when it runs on this machine.
	postmaster int
}

// clusterSettings are those of the throwaway cluster beyond pgtest's own
// (fsync off and friends): the statements' statistics, planning included
// (a statement planned afresh on every call costs more than its
// execution), and no autovacuum,
// whose workers would come and go inside the runs and blur the server's
// CPU per transaction (the bench vacuums between runs instead).
var clusterSettings = map[string]string{
	"shared_preload_libraries":          "pg_stat_statements",
	"pg_stat_statements.track_planning": "on",
	"autovacuum":                        "off",
}

// openDatabase uses the given URL, or starts a cluster and creates a
// database in it; either way the schema is migrated.
func openDatabase(ctx context.Context, dbURL string) (*database, error) {
	db := &database{url: dbURL}
	if dbURL == "" {
		c, err := pgtest.NewCluster(pgtest.Options{Settings: clusterSettings})
		if err != nil {
			// An installation without the contrib modules: run without
			// the statements' statistics.
			var err2 error
			if c, err2 = pgtest.NewCluster(pgtest.Options{Settings: map[string]string{"autovacuum": "off"}}); err2 != nil {
				return nil, err
			}
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
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		db.close()
		return nil, err
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), pg_backend_pid()`).Scan(&db.version, &pid); err != nil {
		db.close()
		return nil, err
	}
	// The backend's parent is the postmaster, when the server is local.
	if st, ok := readStat(pid); ok {
		db.postmaster = st.ppid
	}
	_, err = conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	}
	db.statements = err == nil
	return db, nil
}

func (db *database) close() {
	if db.cluster != nil {
		db.cluster.Close()
	}
}

// connect opens one connection for the bench's own queries.
func (db *database) connect(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, db.url) }

// seedCalls inserts, for each of clients, calls in-progress calls of space,
// each with its greeting (turn 0) when greeting is set, as the
// incoming-call webhook would have left them.
func (db *database) seedCalls(ctx context.Context, space, clients, calls int, greeting bool) error {
	conn, err := db.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	sid := sidSQL(`($1::bigint << 40) | (c::bigint << 24) | i`)
	_, err = conn.Exec(ctx, `
		INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at)
		SELECT `+sid+`, $4, '+14155550100', '+18005550100', 'inbound', $5, $6, now(), now()
		FROM generate_series(0, $2 - 1) c, generate_series(0, $3 - 1) i`,
		space, clients, calls, servicetest.AccountSID, storage.StatusInProgress, storage.StatusInProgress.Rank())
	if err != nil {
		return fmt.Errorf("seeding calls: %w", err)
	}
	if greeting {
		_, err = conn.Exec(ctx, `
			INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
			SELECT `+sid+`, 0, 'assistant', 'Hello! How can I help you today?', -1, false, '', now()
			FROM generate_series(0, $2 - 1) c, generate_series(0, $3 - 1) i`, space, clients, calls)
		if err != nil {
			return fmt.Errorf("seeding greetings: %w", err)
		}
	}
	return nil
}

// vacuum leaves the tables as autovacuum would between runs: dead rows
// gone, statistics fresh.
func (db *database) vacuum(ctx context.Context) error {
	conn, err := db.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `VACUUM ANALYZE`)
	return err
}

// count runs a count(*) query over the calls of space (its SIDs from lo to
// hi, $1 and $2).
func (db *database) count(ctx context.Context, query string, space int) (int, error) {
	conn, err := db.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, query, callSID(space, 0, 0), callSID(space+1, 0, 0)).Scan(&n)
	return n, err
}

func numCPU() int { return runtime.NumCPU() }
