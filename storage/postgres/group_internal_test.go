package postgres

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWriteGroupHandsOn runs thousands of writes through a group whose
// batches take a while, from many goroutines at once: at most limit
// batches run at a time, none holds more than maxGroup writes, every
// write is sent exactly once and gets its own batch's answer, and writes
// that arrive while the slots are busy go together.
func TestWriteGroupHandsOn(t *testing.T) {
	const writers, each, limit = 200, 20, 3
	var running, most, sent atomic.Int64
	var seen sync.Map
	var mu sync.Mutex
	sizes := map[int]int{}
	g := &writeGroup{limit: limit}
	g.send = func(ws []*groupWrite) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		defer running.Add(-1)
		mu.Lock()
		sizes[len(ws)]++
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		for _, w := range ws {
			if _, dup := seen.LoadOrStore(w.sid, true); dup {
				t.Errorf("%s sent twice", w.sid)
			}
			sent.Add(1)
			w.err = errors.New(w.sid)
		}
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				w := &groupWrite{write: write{sid: fmt.Sprintf("CA%d-%d", i, j)}}
				g.do(w)
				if w.err == nil || w.err.Error() != w.sid {
					t.Errorf("%s got %v", w.sid, w.err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("writes still waiting after a minute: a slot was lost")
	}
	if sent.Load() != writers*each {
		t.Errorf("%d writes sent, want %d", sent.Load(), writers*each)
	}
	if most.Load() > limit {
		t.Errorf("%d batches ran at once, limit %d", most.Load(), limit)
	}
	together := 0
	for size, n := range sizes {
		if size > maxGroup {
			t.Errorf("%d batches of %d writes, most is %d", n, size, maxGroup)
		}
		if size > 1 {
			together += n
		}
	}
	if together == 0 {
		t.Errorf("no writes went together: batch sizes %v", sizes)
	}
	if g.running != 0 || len(g.pending) != 0 {
		t.Errorf("after the writes: %d slots taken, %d writes waiting", g.running, len(g.pending))
	}
	b, w := g.batches.Load(), g.writes.Load()
	t.Logf("%d writes in %d batches (%.1f a batch), at most %d at once", w, b, float64(w)/float64(b), most.Load())
}

// TestWriteGroupSurvivesAPanic: a batch whose sending panics answers its
// other writes with an error, the panic goes on up its leader's stack, and
// the slot is not lost: the next write goes through.
func TestWriteGroupSurvivesAPanic(t *testing.T) {
	release := make(chan struct{})
	g := &writeGroup{limit: 1}
	g.send = func(ws []*groupWrite) {
		for _, w := range ws {
			switch w.sid {
			case "hold":
				<-release
			case "boom":
				panic("scan bug")
			}
			w.err = nil
		}
	}
	do := func(sid string) (panicked any, err error) {
		defer func() { panicked = recover() }()
		w := &groupWrite{write: write{sid: sid}}
		g.do(w)
		return nil, w.err
	}
	held := make(chan struct{})
	go func() { do("hold"); close(held) }()
	for {
		g.mu.Lock()
		n := g.running
		g.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	type result struct {
		err      error
		panicked any
	}
	results := make(chan result, 2)
	for _, sid := range []string{"lead", "boom"} {
		go func() { p, err := do(sid); results <- result{err, p} }()
		for {
			g.mu.Lock()
			n := len(g.pending)
			g.mu.Unlock()
			if n > 0 && (sid == "lead" || n > 1) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	<-held
	var panics, errs int
	for range 2 {
		var r result
		select {
		case r = <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("a write of the panicking batch was never answered")
		}
		if r.panicked != nil {
			panics++
		} else if r.err != nil {
			errs++
		}
	}
	if panics != 1 || errs != 1 {
		t.Fatalf("%d writes panicked and %d got an error, want one each", panics, errs)
	}
	done := make(chan error, 1)
	go func() { _, err := do("after"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the write after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write after the panic never ran: the slot was lost")
	}
}
