// Command bench measures the status-callback and speech-turn webhooks of a
// complete switchboard instance (built by runtime/service as cmd/switchboard
// builds it, on a loopback listener, with the PostgreSQL store) next to
// pgbench running the same SQL statements against the same server in the
// same run, so the figure that matters is the ratio: how much of the
// database's own rate survives the HTTP, signature, handler and driver
// layers. The store's calls made directly (no HTTP) split that
// loss between the driver and the web layers. It then offers each webhook at
// a fixed rate (open loop: requests leave on schedule whether or not earlier
// ones have answered) and reports latency percentiles measured from the
// scheduled send time. CPU use is printed for each run, since on a small
// machine the service, its load and the server compete for the same CPUs.
//
// Without -db it starts a throwaway PostgreSQL cluster (see pgtest). It is a
// measuring tool, not a test: nothing here passes or fails on a figure.
//
//	go run ./cmd/bench [-clients 8] [-duration 10s] [-rate 500] [-profile dir]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"switchboard/storage"
)

// options are the command line.
type options struct {
	db           string
	pgbench      string
	clients      int
	duration     time.Duration
	warmup       time.Duration
	rate         int
	rateDuration time.Duration
	pool         int
	maxRate      int
	profile      string
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", "", "URL of an empty, throwaway database (default: start a PostgreSQL cluster)")
	flag.StringVar(&o.pgbench, "pgbench", "/usr/lib/postgresql/15/bin/pgbench", "pgbench binary")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients, for the webhooks and for pgbench alike")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each throughput run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "webhook traffic before measuring")
	flag.IntVar(&o.rate, "rate", 500, "requests per second of the fixed-rate runs")
	flag.DurationVar(&o.rateDuration, "rate-duration", 10*time.Second, "length of each fixed-rate run")
	flag.IntVar(&o.pool, "pool", 10, "the store's connection pool size (DB_MAX_CONNS)")
	flag.IntVar(&o.maxRate, "max-rate", 12000, "highest rate the seeded calls must last for (per second, all clients)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of the webhook throughput runs")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, o options) error {
	db, err := openDatabase(ctx, o.db)
	if err != nil {
		return err
	}
	defer db.close()
	perClient := o.maxRate*int(o.duration.Seconds()+1)/o.clients + 1
	fixed := o.rate*int(o.rateDuration.Seconds()+1) + 1
	if err := db.seed(ctx, o.clients, perClient, fixed); err != nil {
		return err
	}
	svc, err := startInstance(ctx, db.url, o.pool)
	if err != nil {
		return err
	}
	defer svc.close()
	fmt.Printf("PostgreSQL %s on loopback, %d clients, pool %d, %d CPUs\n\n", db.version, o.clients, o.pool, numCPU())

	loop := closedLoop{clients: o.clients, limit: perClient}
	if _, err := loop.run(o.warmup, webhooks(svc, statusTarget(spaceWarmStatus))); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if _, err := loop.run(o.warmup, webhooks(svc, turnTarget(spaceWarmTurn))); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	kinds := []struct {
		name          string
		script        string
		target        func(space int) target
		direct        func(s storage.Store, space int) func(client, i int) error
		svcSpace, pgb int
		directSpace   int
		fixed         func(space, n int) fixedTarget
		fixedSpace    int
	}{
		{"status callback", "status.sql", statusTarget, directStatus, spaceStatus, spacePgbenchStatus, spaceDirectStatus, fixedStatus, spaceFixedStatus},
		{"speech turn", "turn.sql", turnTarget, directTurn, spaceTurn, spacePgbenchTurn, spaceDirectTurn, fixedTurn, spaceFixedTurn},
	}
	type row struct {
		name       string
		web        throughput
		direct     throughput
		pg         pgbenchResult
		p50, p99   time.Duration
		max        time.Duration
		fixedErrs  int
		fixedCount int
	}
	var rows []row
	for _, k := range kinds {
		stopProfile := startProfile(o.profile, strings.TrimSuffix(k.script, ".sql")+".pprof")
		c0 := sampleCPU()
		web, err := loop.run(o.duration, webhooks(svc, k.target(k.svcSpace)))
		c1 := sampleCPU()
		stopProfile()
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		pg, err := runPgbench(ctx, o, db, k.script, k.pgb)
		c2 := sampleCPU()
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		web.cpu, pg.cpu = cpuUse(c0, c1, true), cpuUse(c1, c2, false)
		direct, err := loop.run(o.duration, k.direct(svc.store, k.directSpace))
		direct.cpu = cpuUse(c2, sampleCPU(), true)
		if err != nil {
			return fmt.Errorf("%s, store alone: %w", k.name, err)
		}
		lat := openLoop(svc, o.rate, o.rateDuration, k.fixed(k.fixedSpace, fixed))
		if lat.firstErr != nil {
			fmt.Printf("%s at %d/s: %d of %d requests failed; first: %v\n", k.name, o.rate, lat.errors, len(lat.samples), lat.firstErr)
		}
		rows = append(rows, row{k.name, web, direct, pg, lat.percentile(50), lat.percentile(99), lat.percentile(100), lat.errors, len(lat.samples)})
	}

	fmt.Printf("%-16s %11s %12s %7s %10s   %s\n", "webhook", "webhooks/s", "pgbench tps", "ratio", "store/s", fmt.Sprintf("at %d/s: p50, p99, max (errors/requests)", o.rate))
	for _, r := range rows {
		fmt.Printf("%-16s %11.0f %12.0f %7.2f %10.0f   %s, %s, %s (%d/%d)\n", r.name, r.web.perSecond, r.pg.tps, r.web.perSecond/r.pg.tps,
			r.direct.perSecond, ms(r.p50), ms(r.p99), ms(r.max), r.fixedErrs, r.fixedCount)
	}
	fmt.Println()
	for _, r := range rows {
		fmt.Printf("%s: %d webhooks in %v (%d errors), mean latency %s, %s\n  pgbench: %s, %s\n  store alone (no HTTP): %d calls, mean %s, %s\n",
			r.name, r.web.requests, r.web.elapsed.Round(time.Millisecond), r.web.errors, ms(r.web.mean), r.web.cpu, r.pg.summary, r.pg.cpu,
			r.direct.requests, ms(r.direct.mean), r.direct.cpu)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// startProfile writes a CPU profile of the whole process (service and load
// generator) to dir/name until the returned function is called.
func startProfile(dir, name string) func() {
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Printf("profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Printf("profile: %v", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
