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
