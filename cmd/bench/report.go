package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

func goalText(p pair) string {
	met := "met"
	if p.ratio() < p.kind.goal {
		met = "NOT met"
	}
	return fmt.Sprintf("≥ %.2f %s", p.kind.goal, met)
}

func perSecondRatio(a, b side) float64 {
	if b.perSecond == 0 {
		return 0
	}
	return a.perSecond / b.perSecond
}

func (b *bench) printRound(r int, pairs []pair) {
	fmt.Printf("Round %d of %d (closed loop, %d clients on each side, %v each)\n", r+1, b.o.rounds, b.o.clients, b.o.duration)
	fmt.Printf("%-16s %10s   %-44s %8s %6s  %-12s %13s\n", "webhook", "webhooks/s", "baseline (pgbench -M prepared)", "tps", "ratio", "goal", "store alone/s")
	for _, p := range pairs {
		fmt.Printf("%-16s %10.0f   %-44s %8.0f %6.2f  %-12s %13.0f\n", p.kind.name, p.service.perSecond, p.kind.baseline,
			p.base.perSecond, p.ratio(), goalText(p), p.direct.perSecond)
	}
	fmt.Println()
	fmt.Println("The same rows by the plainest statements in one pipeline (pgbench; not a goal: it splits the distance):")
	for _, p := range pairs {
		fmt.Printf("%-16s %10.0f/s against %8.0f tps: %.2f of it; that script itself runs at %.2f of the baseline\n", p.kind.name,
			p.service.perSecond, p.same.perSecond, perSecondRatio(p.service, p.same), perSecondRatio(p.same, p.base))
	}
	fmt.Println()
	for _, p := range pairs {
		fmt.Println(p.kind.name)
		b.printSide("service", "webhook", "load generator", p.service)
		b.printSide("pgbench", "transaction", "", p.base)
		b.printSide("same rows", "transaction", "", p.same)
		b.printSide("store alone", "store call", "store and driver", p.direct)
	}
	fmt.Println()
}

// printSide prints one run: its rate, who used the CPUs, what each party
// spent per operation and what PostgreSQL ran.
func (b *bench) printSide(name, op, selfName string, s side) {
	const indent = "               "
	fmt.Printf("  %-12s %d %ss, %.0f/s, mean latency %s\n", name, s.ops, op, s.perSecond, s.mean)
	fmt.Printf("%sCPUs: %s\n", indent, s.cpu.describe(selfName))
	var per []string
	if s.cpu.havePG {
		per = append(per, fmt.Sprintf("postgres backends %.0f µs (whole server %.0f µs)", s.cpu.perOp(s.cpu.backends, s.ops), s.cpu.perOp(s.cpu.server, s.ops)))
	}
	if s.cpu.haveSvc && s.cpu.service > 0 {
		per = append(per, fmt.Sprintf("service %.0f µs", s.cpu.perOp(s.cpu.service, s.ops)))
	}
	if s.cpu.pgbench > 0 {
		per = append(per, fmt.Sprintf("pgbench %.0f µs", s.cpu.perOp(s.cpu.pgbench, s.ops)))
	}
	if selfName != "" {
		per = append(per, fmt.Sprintf("%s %.0f µs", selfName, s.cpu.perOp(s.cpu.self, s.ops)))
	}
	fmt.Printf("%sCPU per %s: %s\n", indent, op, strings.Join(per, ", "))
	if lines := statementLines(s.statements, s.ops, b.o.statements); len(lines) > 0 {
		fmt.Printf("%sstatements per %s (pg_stat_statements: calls, mean execution, blocks, WAL):\n", indent, op)
		for _, l := range lines {
			fmt.Printf("%s  %s\n", indent, l)
		}
	}
}

// printSpread sums up the rounds: each kind's ratio and the backends' CPU
// per operation, lowest, median and highest.
func (b *bench) printSpread(rounds [][]pair) {
	fmt.Printf("Spread over %d rounds (min / median / max)\n", len(rounds))
	for ki, k := range kinds {
		var ratio, svc, base, pgSvc, pgBase []float64
		for _, r := range rounds {
			p := r[ki]
			ratio = append(ratio, p.ratio())
			svc = append(svc, p.service.perSecond)
			base = append(base, p.base.perSecond)
			pgSvc = append(pgSvc, p.service.cpu.perOp(p.service.cpu.backends, p.service.ops))
			pgBase = append(pgBase, p.base.cpu.perOp(p.base.cpu.backends, p.base.ops))
		}
		fmt.Printf("  %-16s ratio %s; webhooks/s %s; pgbench tps %s; backend µs per webhook %s, per pgbench transaction %s\n",
			k.name, spread(ratio, "%.2f"), spread(svc, "%.0f"), spread(base, "%.0f"), spread(pgSvc, "%.0f"), spread(pgBase, "%.0f"))
	}
	fmt.Println()
}

func spread(v []float64, f string) string {
	v = slices.Clone(v)
	slices.Sort(v)
	median := (v[(len(v)-1)/2] + v[len(v)/2]) / 2
	return fmt.Sprintf(f+" / "+f+" / "+f, v[0], median, v[len(v)-1])
}

// mixedRun offers the mixed traffic at the fixed rate and prints its
// latencies.
func (b *bench) mixedRun(ctx context.Context) error {
	if err := b.settle(ctx); err != nil {
		return err
	}
	if err := b.client.warm(b.o.conns); err != nil {
		return fmt.Errorf("opening connections: %w", err)
	}
	m := mixed{rate: b.o.rate, duration: b.o.mixFor, gap: b.o.gap, space: mixSpace}
	profile := ""
	if b.o.profile != "" {
		profile = filepath.Join(b.o.profile, "mixed.pprof")
	}
	stop, err := b.svc.profile(profile)
	if err != nil {
		return err
	}
	res := m.run(b.client, b.sampler)
	stop()
	st, err := b.db.readStatements(ctx)
	if err != nil {
		return err
	}

	errs := 0
	for _, n := range res.errors {
		errs += n
	}
	p99 := percentile(res.lat, 99)
	met := "met"
	if p99 >= 10e6 || errs > 0 {
		met = "NOT met"
	}
	fmt.Printf("Mixed traffic, open loop: %d webhooks/s for %v; per call, %v apart: ", b.o.rate, b.o.mixFor, res.gap)
	var names []string
	for _, s := range callSteps {
		names = append(names, s.kind)
	}
	fmt.Printf("%s (%d calls)\n", strings.Join(names, ", "), res.sent/len(callSteps))
	fmt.Printf("  %d requests at the full rate: p50 %s, p90 %s, p99 %s, max %s (goal p99 < 10 ms, no errors: %s)\n", res.window,
		ms(percentile(res.lat, 50)), ms(percentile(res.lat, 90)), ms(p99), ms(percentile(res.lat, 100)), met)
	fmt.Printf("  errors: %d of %d requests sent", errs, res.sent)
	if res.firstErr != nil {
		fmt.Printf("; first: %v", res.firstErr)
	}
	fmt.Println()
	for _, k := range []string{"incoming call", "status callback", "speech turn", "recording callback"} {
		l := res.byKind[k]
		fmt.Printf("  %-18s %5d: p50 %s, p99 %s, max %s, errors %d\n", k, len(l), ms(percentile(l, 50)), ms(percentile(l, 99)), ms(percentile(l, 100)), res.errors[k])
	}
	fmt.Printf("  sender: p99 %s, max %s behind schedule (counted in the latencies); connections: %d open before, %d opened during the run\n",
		ms(percentile(res.late, 99)), ms(percentile(res.late, 100)), res.dialsBefore, res.dialsDuring)
	fmt.Printf("  CPUs: %s\n", res.cpu.describe("load generator"))
	if res.cpu.havePG {
		fmt.Printf("  CPU per webhook: postgres backends %.0f µs, service %.0f µs\n",
			res.cpu.perOp(res.cpu.backends, res.sent), res.cpu.perOp(res.cpu.service, res.sent))
	}
	if lines := statementLines(st, res.sent, b.o.statements+2); len(lines) > 0 {
		fmt.Println("  statements per webhook (pg_stat_statements):")
		for _, l := range lines {
			fmt.Printf("    %s\n", l)
		}
	}
	return nil
}
