package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// statement is one line of pg_stat_statements over a run.
type statement struct {
	query                 string
	calls, rows, plans    int64
	execMS, planMS        float64
	blocks, wal, walBytes float64 // shared blocks hit or read, WAL records, WAL bytes
}

// resetStatements forgets what pg_stat_statements counted so far.
func (db *database) resetStatements(ctx context.Context) error {
	if !db.statements {
		return nil
	}
	conn, err := db.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err
}

// readStatements returns the statements run in the bench database since
// the last reset, most time first, leaving out the bench's own.
func (db *database) readStatements(ctx context.Context) ([]statement, error) {
	if !db.statements {
		return nil, nil
	}
	conn, err := db.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT query, calls, rows, total_exec_time, plans, total_plan_time, shared_blks_hit + shared_blks_read, wal_records, wal_bytes
		FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND query NOT LIKE '%pg_stat_statements%'
		ORDER BY total_exec_time DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []statement
	for rows.Next() {
		var s statement
		var walBytes float64
		var wal int64
		var blocks int64
		if err := rows.Scan(&s.query, &s.calls, &s.rows, &s.execMS, &s.plans, &s.planMS, &blocks, &wal, &walBytes); err != nil {
			return nil, err
		}
		s.blocks, s.wal, s.walBytes = float64(blocks), float64(wal), walBytes
		out = append(out, s)
	}
	return out, rows.Err()
}

var spaces = regexp.MustCompile(`\s+`)

// statementLines describes the statements per operation (webhook or
// pgbench transaction): how many ran, their mean execution time, the
// blocks they touched and the WAL they wrote.
func statementLines(st []statement, ops int, limit int) []string {
	if ops == 0 {
		return nil
	}
	var lines []string
	var total, planning float64
	for _, s := range st {
		total += s.execMS
		planning += s.planMS
	}
	for i, s := range st {
		if i == limit {
			lines = append(lines, fmt.Sprintf("(%d more statements)", len(st)-limit))
			break
		}
		q := strings.TrimSpace(spaces.ReplaceAllString(s.query, " "))
		if len(q) > 70 {
			q = q[:70] + "…"
		}
		per := func(x float64) float64 { return x / float64(s.calls) }
		lines = append(lines, fmt.Sprintf("%5.2f× %6.1f µs %5.1f blocks %4.1f WAL records %6.0f B WAL, planned %3.0f%%  %s",
			float64(s.calls)/float64(ops), per(s.execMS)*1000, per(s.blocks), per(s.wal), per(s.walBytes), per(float64(s.plans))*100, q))
	}
	if len(st) > 0 {
		lines = append(lines, fmt.Sprintf("execution %.1f µs and planning %.1f µs per operation in all", total*1000/float64(ops), planning*1000/float64(ops)))
	}
	return lines
}
