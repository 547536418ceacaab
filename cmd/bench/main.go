// Command bench measures switchboard's webhooks against PostgreSQL doing the
// least it must for the same effect, in one run on one machine: a complete
// service (built by runtime/service as cmd/switchboard builds it, in a
// process of its own, with the PostgreSQL store on a loopback server)
// answers signed webhooks from a closed-loop load generator, and pgbench
// runs fixed minimal statements with as many clients against the same
// server right after. The figure that matters is the ratio of the two
// rates:
//
//	incoming-call webhook   against  INSERT of one call row (ON CONFLICT DO NOTHING)
//	status callback         against  UPDATE calls SET status = … WHERE sid = …
//	speech turn             against  two turn rows inserted in one transaction
//
// The store's calls made directly (no HTTP) split the rest between the
// driver and the web layers. Every run says who used the CPUs (the
// machine, PostgreSQL's backends, the service, the load generator,
// pgbench, and other work on the machine) and what PostgreSQL spent per
// operation: CPU time of its backends and, from pg_stat_statements, the
// statements, their execution time, blocks and WAL.
//
// It then offers mixed traffic at a fixed rate (open loop: requests leave
// on schedule, latency counts from the scheduled time): calls arriving
// steadily, each with its incoming call, progress callbacks, turns,
// completion and recording, many calls interleaved.
//
// Without -db it starts a throwaway PostgreSQL cluster (see pgtest) with
// pg_stat_statements loaded when the installation has it. It is a
// measuring tool, not a test: nothing here passes or fails on a figure.
//
//	go run ./cmd/bench [-clients 8] [-duration 10s] [-rate 1000] [-rounds 1] [-profile dir]
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"time"

	"switchboard/runtime/service"
)

// options are the command line.
type options struct {
	db         string
	pgbench    string
	clients    int
	duration   time.Duration
	warmup     time.Duration
	rounds     int
	rate       int
	mixFor     time.Duration
	gap        time.Duration
	conns      int
	pool       int
	writes     int
	maxRate    int
	profile    string
	serve      bool
	serveFloor bool
	floor      bool
	statements int
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", "", "URL of an empty, throwaway database (default: start a PostgreSQL cluster)")
	flag.StringVar(&o.pgbench, "pgbench", "", "pgbench binary (default: the newest in /usr/lib/postgresql/*/bin, else on PATH)")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients, for the webhooks and for pgbench alike")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each throughput run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "traffic of each kind before measuring")
	flag.IntVar(&o.rounds, "rounds", 1, "how many times to run every throughput pair (the spread between rounds shows the noise)")
	flag.IntVar(&o.rate, "rate", 1000, "webhooks per second of the mixed open-loop run (0: skip it)")
	flag.DurationVar(&o.mixFor, "rate-duration", 10*time.Second, "length of the mixed open-loop run")
	flag.DurationVar(&o.gap, "gap", 100*time.Millisecond, "time between one call's webhooks in the mixed run")
	flag.IntVar(&o.conns, "conns", 256, "connections opened to the service before the mixed run")
	flag.IntVar(&o.pool, "pool", 10, "the store's connection pool size (DB_MAX_CONNS)")
	flag.IntVar(&o.writes, "write-concurrency", service.Defaults().Postgres.WriteConcurrency, "batches of webhook writes at once (DB_WRITE_CONCURRENCY; 0: every write on its own)")
	flag.IntVar(&o.maxRate, "max-rate", 12000, "highest rate the seeded calls must last for (per second, all clients)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of the service during each webhook run")
	flag.IntVar(&o.statements, "statements", 4, "statements to list per run from pg_stat_statements")
	flag.BoolVar(&o.serve, "serve", false, "run the service for a parent bench process (internal)")
	flag.BoolVar(&o.serveFloor, "serve-floor", false, "run the HTTP floor for a parent bench process (internal)")
	flag.BoolVar(&o.floor, "floor", true, "measure the HTTP floor: the status callbacks to an app that only parses them")
	flag.Parse()
	if o.serveFloor {
		if err := serveFloor(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if o.serve {
		if err := serve(o.db, o.pool, o.writes); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, o options) error {
	if o.pgbench == "" {
		p, err := findPgbench()
		if err != nil {
			return err
		}
		o.pgbench = p
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	db, err := openDatabase(ctx, o.db)
	if err != nil {
		return err
	}
	defer db.close()
	b, err := newBench(ctx, o, db)
	if err != nil {
		return err
	}
	defer b.close()
	b.header()
	var rounds [][]pair
	for r := range o.rounds {
		pairs, err := b.throughputRound(ctx, r)
		if err != nil {
			return err
		}
		rounds = append(rounds, pairs)
		b.printRound(r, pairs)
	}
	if o.rounds > 1 {
		b.printSpread(rounds)
	}
	if o.floor {
		if err := b.floorRun(); err != nil {
			return err
		}
	}
	if o.rate > 0 {
		if err := b.mixedRun(ctx); err != nil {
			return err
		}
	}
	return nil
}
