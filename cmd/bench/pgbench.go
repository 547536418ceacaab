package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// The baselines are fixed, minimal statements, written here once and never
// copied from the store: a ratio then measures the service (HTTP, signature,
// handler, driver and the SQL it chose to send) against the least the
// database must do for the same effect, and cannot drift with the store's
// SQL. Each script is one transaction of pgbench -M prepared; n is the
// call's number (space<<40 | client<<24 | i, as callNumber), computed from
// pgbench's client_id and a per-client counter i that persists across the
// client's transactions.
const callNumberSQL = `\set n (:space << 40) | (:client_id << 24) | :i` + "\n"

// insertCallScript inserts one new call row.
var insertCallScript = callNumberSQL + `
INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at)
VALUES (` + sidSQL(":n::bigint") + `, :account, '+14155550100', '+18005550100', 'inbound', 'ringing', :ringing_rank::smallint, now(), now())
ON CONFLICT DO NOTHING;
\set i :i + 1
`

// updateStatusScript sets one seeded call's status.
var updateStatusScript = callNumberSQL + `
UPDATE calls SET status = 'completed' WHERE sid = ` + sidSQL(":n::bigint") + `;
\set i :i + 1
`

// insertTurnsScript inserts a turn's two rows, the caller's and the
// answer, in one transaction: both statements in one pipeline, one round
// trip, as a client that has both rows at hand would send them. Turn
// i%turnsPerCall+1 of the client's seeded call i/turnsPerCall.
var insertTurnsScript = `\set call :i / ` + strconv.Itoa(turnsPerCall) + `
\set turn :i % ` + strconv.Itoa(turnsPerCall) + ` + 1
\set n (:space << 40) | (:client_id << 24) | :call
\startpipeline
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES (` + sidSQL(":n::bigint") + `, :turn, 'caller', 'Where are you located?', 0.91, false, '', now());
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES (` + sidSQL(":n::bigint") + `, :turn, 'assistant', 'You can find us at 100 Main Street, next to the central station.', -1, false, '', now());
\endpipeline
\set i :i + 1
`

// The same-rows scripts write what the webhook must store, no more, by the
// plainest statements, in one pipeline (one round trip, one transaction),
// as a client that knew the outcome beforehand would: no checks, no
// reads it can do without. They are not the goals' baselines; they split
// the distance to those into the rows a webhook has to write and the rest
// (HTTP, signature, handler, driver, and what the store's SQL does beyond
// the plainest statements).

// callAndGreetingScript inserts a new call and its greeting (turn 0).
var callAndGreetingScript = callNumberSQL + `\startpipeline
INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at)
VALUES (` + sidSQL(":n::bigint") + `, :account, '+14155550100', '+18005550100', 'inbound', 'ringing', :ringing_rank::smallint, now(), now())
ON CONFLICT DO NOTHING;
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES (` + sidSQL(":n::bigint") + `, 0, 'assistant', 'Hello! How can I help you today?', -1, false, '', now());
\endpipeline
\set i :i + 1
`

// completeCallScript ends a seeded call as the completed callback does:
// the call's status, end and duration, its timeline entry and the summary
// work item.
var completeCallScript = callNumberSQL + `\startpipeline
UPDATE calls SET status = 'completed', status_rank = :completed_rank::smallint, ended_at = now(), duration = 42, updated_at = now()
WHERE sid = ` + sidSQL(":n::bigint") + `;
INSERT INTO call_status_events (call_sid, status, at, sequence, duration)
VALUES (` + sidSQL(":n::bigint") + `, 'completed', now(), 2, 42);
INSERT INTO work (kind, call_sid) VALUES ('summarize_call', ` + sidSQL(":n::bigint") + `);
\endpipeline
\set i :i + 1
`

// turnAndConversationScript is a turn as the webhook must do it: the
// caller's words stored and the conversation read in one round trip, then
// the answer stored in another.
var turnAndConversationScript = `\set call :i / ` + strconv.Itoa(turnsPerCall) + `
\set turn :i % ` + strconv.Itoa(turnsPerCall) + ` + 1
\set n (:space << 40) | (:client_id << 24) | :call
\startpipeline
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES (` + sidSQL(":n::bigint") + `, :turn, 'caller', 'Where are you located?', 0.91, false, '', now());
SELECT number, role, text FROM turns WHERE call_sid = ` + sidSQL(":n::bigint") + ` ORDER BY number, role;
\endpipeline
\startpipeline
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES (` + sidSQL(":n::bigint") + `, :turn, 'assistant', 'You can find us at 100 Main Street, next to the central station.', -1, false, '', now());
\endpipeline
\set i :i + 1
`

// findPgbench picks the newest installed PostgreSQL's pgbench, as pgtest
// picks its server, or the one on PATH.
func findPgbench() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	best, bestMajor := "", -1
	for _, p := range found {
		major, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		if err == nil && major > bestMajor {
			best, bestMajor = p, major
		}
	}
	if best != "" {
		return best, nil
	}
	p, err := exec.LookPath("pgbench")
	if err != nil {
		return "", fmt.Errorf("no pgbench in /usr/lib/postgresql/*/bin or on PATH (install PostgreSQL's client tools, or pass -pgbench)")
	}
	return p, nil
}

type pgbenchResult struct {
	tps          float64
	transactions int
	latency      string
	cpu          cpuUse
}

var (
	tpsLine   = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	processed = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
	latLine   = regexp.MustCompile(`latency average = ([0-9.]+ ms)`)
)

// runPgbench runs script with the run's client count and duration on the
// calls of space.
func runPgbench(ctx context.Context, o options, db *database, s sampler, script string, space int) (pgbenchResult, error) {
	dir, err := os.MkdirTemp("", "switchboard-pgbench-")
	if err != nil {
		return pgbenchResult{}, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "script.sql")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		return pgbenchResult{}, err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(min(o.clients, numCPU())),
		"-T", strconv.Itoa(int(o.duration.Seconds())), "-D", "i=0", "-D", "space=" + strconv.Itoa(space),
		"-D", "account=" + servicetest.AccountSID,
		"-D", "ringing_rank=" + strconv.Itoa(storage.StatusRinging.Rank()),
		"-D", "completed_rank=" + strconv.Itoa(storage.StatusCompleted.Rank()),
		"-f", file, db.url}
	cmd := exec.CommandContext(ctx, o.pgbench, args...)
	before := s.sample()
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, text)
	}
	// pgbench's backends end with it; wait until the postmaster has
	// reaped them, so their CPU time is counted.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if pg := s.sample().pg; pg.live <= before.pg.live && pg.exiting == 0 {
			break
		}
	}
	after := s.sample()
	res := pgbenchResult{cpu: used(before, after, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())}
	if strings.Contains(text, "aborted") {
		return res, fmt.Errorf("pgbench clients aborted:\n%s", text)
	}
	m := tpsLine.FindStringSubmatch(text)
	if m == nil {
		return res, fmt.Errorf("no tps in pgbench's output:\n%s", text)
	}
	res.tps, _ = strconv.ParseFloat(m[1], 64)
	if m = processed.FindStringSubmatch(text); m == nil {
		return res, fmt.Errorf("no transaction count in pgbench's output:\n%s", text)
	}
	res.transactions, _ = strconv.Atoi(m[1])
	if m = latLine.FindStringSubmatch(text); m != nil {
		res.latency = m[1]
	}
	return res, nil
}
