package main

import (
	"slices"
	"sync"
	"time"
)

// mixed is the open-loop run: calls arrive at a steady rate, each sending
// its webhooks (callSteps) in order, a fixed gap apart, many calls
// interleaved. Every request leaves at its scheduled time whether or not
// earlier ones were answered, and its latency counts from that time, so a
// stalled service cannot hide its backlog by slowing the sender down (and
// a late sender counts against the service, never for it).
//
// With the rate's tick as unit, call k starts at tick 9k and its step s
// is due at tick 9k + s·gap, where gap ≡ 1 (mod 9): the nine steps of the
// calls fall in the nine residues, so once the first call has reached its
// last step exactly one request is due per tick. The percentiles are over
// that steady window; the calls' ramp up and down around it are sent and
// their errors counted.
type mixed struct {
	rate     int
	duration time.Duration
	gap      time.Duration // between a call's webhooks, about
	space    int
}

type mixResult struct {
	sent, window int
	gap          time.Duration
	lat          []time.Duration // of the steady window, sorted
	byKind       map[string][]time.Duration
	errors       map[string]int
	firstErr     error
	late         []time.Duration // how late each request left, sorted
	dialsBefore  int64
	dialsDuring  int64
	cpu          cpuUse
}

type scheduled struct {
	tick int
	kind string
	req  request
}

func (m mixed) schedule() (reqs []scheduled, window [2]int, gapTicks int) {
	steps := len(callSteps)
	gapTicks = int(m.gap * time.Duration(m.rate) / time.Second)
	for gapTicks%steps != 1 {
		gapTicks++
	}
	ticks := int(m.duration * time.Duration(m.rate) / time.Second)
	for k := 0; k*steps < ticks; k++ {
		sid := callSID(m.space, 0, k)
		for s, step := range callSteps {
			reqs = append(reqs, scheduled{tick: k*steps + s*gapTicks, kind: step.kind, req: step.make(sid)})
		}
	}
	slices.SortFunc(reqs, func(a, b scheduled) int { return a.tick - b.tick })
	return reqs, [2]int{(steps - 1) * gapTicks, ticks}, gapTicks
}

// run offers the traffic to the service through c.
func (m mixed) run(c *client, s sampler) mixResult {
	reqs, window, gapTicks := m.schedule()
	interval := time.Second / time.Duration(m.rate)
	res := mixResult{sent: len(reqs), gap: time.Duration(gapTicks) * interval, byKind: map[string][]time.Duration{}, errors: map[string]int{}}
	lat := make([]time.Duration, len(reqs))
	late := make([]time.Duration, len(reqs))
	errs := make([]error, len(reqs))
	res.dialsBefore = int64(c.open())
	dials := c.dials.Load()
	var wg sync.WaitGroup
	c0 := s.sample()
	start := time.Now().Add(50 * time.Millisecond)
	for i, r := range reqs {
		at := start.Add(time.Duration(r.tick) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		late[i] = time.Since(at)
		wg.Go(func() {
			errs[i] = c.send(r.req)
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	res.cpu = used(c0, s.sample(), 0)
	res.dialsDuring = c.dials.Load() - dials
	for i, r := range reqs {
		if errs[i] != nil {
			res.errors[r.kind]++
			if res.firstErr == nil {
				res.firstErr = errs[i]
			}
		}
		if r.tick >= window[0] && r.tick < window[1] {
			res.lat = append(res.lat, lat[i])
			res.byKind[r.kind] = append(res.byKind[r.kind], lat[i])
		}
	}
	res.window = len(res.lat)
	slices.Sort(res.lat)
	for _, l := range res.byKind {
		slices.Sort(l)
	}
	slices.Sort(late)
	res.late = late
	return res
}

// percentile is the p-th percentile (nearest rank) of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
