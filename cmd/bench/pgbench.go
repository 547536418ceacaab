package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// The pgbench scripts: the store's statements for each webhook.
var (
	//go:embed status.sql
	statusSQL []byte
	//go:embed turn.sql
	turnSQL []byte
)

type pgbenchResult struct {
	tps     float64
	summary string
	cpu     string
}

var (
	tpsLine   = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	processed = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// runPgbench runs script with the same client count and duration as the
// webhook run, on the calls of space, and checks that no client ran out of
// seeded calls (which would make its transactions cheaper than real ones).
func runPgbench(ctx context.Context, o options, db *database, script string, space int) (pgbenchResult, error) {
	dir, err := os.MkdirTemp("", "switchboard-pgbench-")
	if err != nil {
		return pgbenchResult{}, err
	}
	defer os.RemoveAll(dir)
	body := statusSQL
	if script == "turn.sql" {
		body = turnSQL
	}
	file := filepath.Join(dir, script)
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return pgbenchResult{}, err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(min(o.clients, numCPU())),
		"-T", strconv.Itoa(int(o.duration.Seconds())), "-D", "i=0", "-D", "space=" + strconv.Itoa(space),
		"-D", "account=" + servicetest.AccountSID,
		"-D", "completed_rank=" + strconv.Itoa(storage.StatusCompleted.Rank()),
		"-D", "in_progress_rank=" + strconv.Itoa(storage.StatusInProgress.Rank()),
		"-f", file, db.url}
	cmd := exec.CommandContext(ctx, o.pgbench, args...)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, text)
	}
	if strings.Contains(text, "aborted") {
		return pgbenchResult{}, fmt.Errorf("pgbench clients aborted (out of seeded calls? raise -max-rate):\n%s", text)
	}
	m := tpsLine.FindStringSubmatch(text)
	if m == nil {
		return pgbenchResult{}, fmt.Errorf("no tps in pgbench's output:\n%s", text)
	}
	tps, _ := strconv.ParseFloat(m[1], 64)
	if script == "status.sql" {
		left, err := db.leftInProgress(ctx, space, o.clients)
		if err != nil {
			return pgbenchResult{}, err
		}
		for c, n := range left {
			if n == 0 {
				return pgbenchResult{}, fmt.Errorf("pgbench client %d ran out of seeded calls: raise -max-rate", c)
			}
		}
	}
	// Every transaction must have done the webhook's work, or the rate
	// would be that of statements matching nothing.
	m = processed.FindStringSubmatch(text)
	if m == nil {
		return pgbenchResult{}, fmt.Errorf("no transaction count in pgbench's output:\n%s", text)
	}
	txs, _ := strconv.Atoi(m[1])
	done, err := db.effects(ctx, script, space, o.clients)
	if err != nil {
		return pgbenchResult{}, err
	}
	if done < txs {
		return pgbenchResult{}, fmt.Errorf("pgbench reports %d transactions but only %d had an effect", txs, done)
	}
	var lat string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "latency average") || strings.HasPrefix(line, "number of transactions actually processed") {
			lat += strings.TrimSpace(line) + "; "
		}
	}
	return pgbenchResult{tps: tps, summary: strings.TrimSuffix(lat, "; ")}, nil
}
