package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"switchboard/runtime/service"
	"switchboard/storage/postgres"
)

// Sides of a pair, and the warm-ups, each on calls of its own.
const (
	sideService = iota
	sidePgbench
	sideDirect
	sideSameRows
	sideWarmService
	sideWarmDirect
	sides
)

// space numbers the calls of one side of one kind in one round.
func space(round, kind, side int) int { return 1 + (round*len(kinds)+kind)*sides + side }

// mixSpace holds the calls of the mixed run.
const mixSpace = 1 << 20

// bench holds what every run shares.
type bench struct {
	o       options
	db      *database
	svc     *serviceProc
	client  *client
	store   *postgres.Store
	sampler sampler
	limit   int // webhooks each client may send in a run
	started time.Time
}

func newBench(ctx context.Context, o options, db *database) (*bench, error) {
	b := &bench{o: o, db: db, started: time.Now()}
	b.limit = o.maxRate*int(max(o.duration, o.warmup).Seconds()+1)/o.clients + 1
	fmt.Printf("seeding calls for %d round(s)…\n", o.rounds)
	for r := range o.rounds {
		for ki, k := range kinds {
			if k.perCall == 0 {
				continue
			}
			for side := range sides {
				if r > 0 && side >= sideWarmService {
					continue // the warm-ups run once
				}
				// pgbench's clients do not keep an even pace on a busy
				// machine: give each three times as many calls as the
				// average (a client that ran out would update nothing,
				// cheaply; the count of effects after the run catches it).
				calls := k.calls(b.limit)
				if side == sidePgbench || side == sideSameRows {
					calls *= 3
				}
				if err := db.seedCalls(ctx, space(r, ki, side), o.clients, calls, k.greeting); err != nil {
					return nil, err
				}
			}
		}
	}
	svc, err := startService(db.url, o.pool, o.writes)
	if err != nil {
		return nil, err
	}
	b.svc = svc
	b.client = newClient(svc.url)
	b.sampler = sampler{postmaster: db.postmaster, service: svc.pid()}
	cfg := service.Defaults().Postgres
	cfg.URL, cfg.MaxConns, cfg.WriteConcurrency = db.url, int32(o.pool), o.writes
	if b.store, err = postgres.Open(ctx, cfg); err != nil {
		b.close()
		return nil, err
	}
	for ki, k := range kinds {
		loop := closedLoop{clients: o.clients, limit: b.limit}
		if _, err := loop.run(o.warmup, b.webhooks(k, b.prepare(k, space(0, ki, sideWarmService)))); err != nil {
			b.close()
			return nil, fmt.Errorf("%s, warm-up: %w", k.name, err)
		}
		if _, err := loop.run(o.warmup, b.directly(ctx, k, space(0, ki, sideWarmDirect))); err != nil {
			b.close()
			return nil, fmt.Errorf("%s, store alone, warm-up: %w", k.name, err)
		}
	}
	return b, nil
}

func (b *bench) close() {
	if b.store != nil {
		b.store.Close()
	}
	if b.svc != nil {
		b.svc.close()
	}
}

func (b *bench) header() {
	stats := "pg_stat_statements loaded"
	if !b.db.statements {
		stats = "no pg_stat_statements"
	}
	where := "throwaway cluster, autovacuum off (VACUUM ANALYZE and CHECKPOINT before each run)"
	if b.db.cluster == nil {
		where = "the database given"
	}
	fmt.Printf("\nswitchboard webhooks against PostgreSQL, %s\n", b.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("PostgreSQL %s on loopback (%s, %s); %d CPUs\n", b.db.version, where, stats, numCPU())
	fmt.Printf("%d clients on each side, %v per run, service pool %d, write concurrency %d; load average %s\n\n", b.o.clients, b.o.duration, b.o.pool, b.o.writes, b.sampler.sample().load)
}

// prepare builds every request a client may send in a run of k on space,
// so signing them is not part of the run.
func (b *bench) prepare(k kind, space int) [][]request {
	reqs := make([][]request, b.o.clients)
	for c := range reqs {
		reqs[c] = make([]request, b.limit)
		for i := range reqs[c] {
			reqs[c][i] = k.request(k.target(space, c, i))
		}
	}
	return reqs
}

func (b *bench) webhooks(_ kind, reqs [][]request) func(client, i int) error {
	return func(client, i int) error { return b.client.send(reqs[client][i]) }
}

func (b *bench) directly(ctx context.Context, k kind, space int) func(client, i int) error {
	return func(client, i int) error {
		sid, n := k.target(space, client, i)
		return k.direct(ctx, b.store, sid, n)
	}
}

// settle leaves the database in the same state before every run: dead
// rows vacuumed, statistics fresh, a checkpoint done, statistics of
// statements reset.
func (b *bench) settle(ctx context.Context) error {
	if err := b.db.vacuum(ctx); err != nil {
		return err
	}
	conn, err := b.db.connect(ctx)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `CHECKPOINT`)
	conn.Close(ctx)
	if err != nil {
		return err
	}
	return b.db.resetStatements(ctx)
}

// side is one run of a pair: the service, pgbench or the store alone.
type side struct {
	ops        int
	perSecond  float64
	mean       string
	cpu        cpuUse
	statements []statement
}

// pair is one kind's runs in one round.
type pair struct {
	kind                        kind
	service, base, direct, same side
}

func (p pair) ratio() float64 {
	if p.base.perSecond == 0 {
		return 0
	}
	return p.service.perSecond / p.base.perSecond
}

func (b *bench) throughputRound(ctx context.Context, round int) ([]pair, error) {
	var pairs []pair
	loop := closedLoop{clients: b.o.clients, limit: b.limit}
	for ki, k := range kinds {
		p := pair{kind: k}

		reqs := b.prepare(k, space(round, ki, sideService))
		if err := b.settle(ctx); err != nil {
			return nil, err
		}
		profile := ""
		if b.o.profile != "" {
			profile = filepath.Join(b.o.profile, fmt.Sprintf("%s-%d.pprof", k.file, round+1))
		}
		stop, err := b.svc.profile(profile)
		if err != nil {
			return nil, err
		}
		c0 := b.sampler.sample()
		t, err := loop.run(b.o.duration, b.webhooks(k, reqs))
		c1 := b.sampler.sample()
		stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		p.service = side{ops: t.requests, perSecond: t.perSecond, mean: ms(t.mean), cpu: used(c0, c1, 0)}
		if p.service.statements, err = b.db.readStatements(ctx); err != nil {
			return nil, err
		}

		if err := b.settle(ctx); err != nil {
			return nil, err
		}
		if p.base, err = b.pgbench(ctx, k, k.script, space(round, ki, sidePgbench)); err != nil {
			return nil, err
		}
		if err := b.settle(ctx); err != nil {
			return nil, err
		}
		if p.same, err = b.pgbench(ctx, k, k.sameRows, space(round, ki, sideSameRows)); err != nil {
			return nil, err
		}

		if err := b.settle(ctx); err != nil {
			return nil, err
		}
		c0 = b.sampler.sample()
		t, err = loop.run(b.o.duration, b.directly(ctx, k, space(round, ki, sideDirect)))
		c1 = b.sampler.sample()
		if err != nil {
			return nil, fmt.Errorf("%s, store alone: %w", k.name, err)
		}
		p.direct = side{ops: t.requests, perSecond: t.perSecond, mean: ms(t.mean), cpu: used(c0, c1, 0)}
		if p.direct.statements, err = b.db.readStatements(ctx); err != nil {
			return nil, err
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// pgbench runs script on the calls of space and checks that every
// transaction it counted had its effect.
func (b *bench) pgbench(ctx context.Context, k kind, script string, space int) (side, error) {
	pg, err := runPgbench(ctx, b.o, b.db, b.sampler, script, space)
	if err != nil {
		return side{}, fmt.Errorf("%s, pgbench: %w", k.name, err)
	}
	s := side{ops: pg.transactions, perSecond: pg.tps, mean: pg.latency, cpu: pg.cpu}
	if s.statements, err = b.db.readStatements(ctx); err != nil {
		return side{}, err
	}
	done, err := b.db.count(ctx, k.effect, space)
	if err != nil {
		return side{}, err
	}
	if done < pg.transactions {
		return side{}, fmt.Errorf("%s: pgbench reports %d transactions but only %d had their effect (out of seeded calls? raise -max-rate)",
			k.name, pg.transactions, done)
	}
	return s, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
