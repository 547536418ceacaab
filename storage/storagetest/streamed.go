package storagetest

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/storage"
)

// The turns of streamed (ConversationRelay) calls: the same rows as
// <Gather> turns, with the reply's latency and the caller's interruption.

func testStreamedTurns(t *testing.T, newStore newStoreFunc) {
	sid := callSID(1)
	timed := storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleAssistant, Text: "We open at nine.", Confidence: -1,
		Latency:   &storage.Latency{FirstTokenMS: 212.5, FirstTextMS: 213.125, LastTextMS: 901.75},
		CreatedAt: t0.Add(3 * time.Second)}

	t.Run("KeepsLatencyAndInterruption", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		heard := timed
		heard.Number, heard.Text, heard.Interrupted = 2, "We open", true
		heard.Latency = &storage.Latency{FirstTokenMS: 150, FirstTextMS: 151, LastTextMS: -1}
		for _, tu := range []storage.Turn{timed, heard} {
			got, created, err := s.AddTurn(t.Context(), tu)
			if err != nil || !created {
				t.Fatalf("AddTurn(%d) = created %v, error %v; want created", tu.Number, created, err)
			}
			if diff := cmp.Diff(tu, got); diff != "" {
				t.Errorf("AddTurn(%d) (-want +got):\n%s", tu.Number, diff)
			}
		}
		if diff := cmp.Diff([]storage.Turn{timed, heard}, mustGetCall(t, s, sid).Turns); diff != "" {
			t.Errorf("stored turns (-want +got):\n%s", diff)
		}
	})

	t.Run("ReturnedLatencyIsACopy", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		got := mustAddTurn(t, s, timed)
		got.Latency.FirstTextMS = 0
		if diff := cmp.Diff([]storage.Turn{timed}, mustGetCall(t, s, sid).Turns); diff != "" {
			t.Errorf("changing a returned turn changed the store (-want +got):\n%s", diff)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		for name, edit := range map[string]func(*storage.Turn){
			"NegativeLatency":       func(tu *storage.Turn) { tu.Latency = &storage.Latency{FirstTokenMS: -2} },
			"NaNLatency":            func(tu *storage.Turn) { tu.Latency = &storage.Latency{FirstTextMS: math.NaN()} },
			"LatencyOverMax":        func(tu *storage.Turn) { tu.Latency = &storage.Latency{LastTextMS: storage.MaxLatencyMS + 1} },
			"InterruptedCallerTurn": func(tu *storage.Turn) { tu.Role, tu.Latency, tu.Interrupted = storage.RoleCaller, nil, true },
			"TimedCallerTurn":       func(tu *storage.Turn) { tu.Role = storage.RoleCaller },
		} {
			tu := timed
			edit(&tu)
			_, _, err := s.AddTurn(t.Context(), tu)
			wantKind(t, "AddTurn with "+name, err, storage.ErrInvalid)
		}
		if turns := mustGetCall(t, s, sid).Turns; len(turns) != 0 {
			t.Errorf("rejected turns were stored: %+v", turns)
		}
	})
}

func testInterruptTurn(t *testing.T, newStore newStoreFunc) {
	sid := callSID(1)
	answer := storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleAssistant, Text: "We open at nine in the morning and close at six.", Confidence: -1,
		Latency: &storage.Latency{FirstTokenMS: 100, FirstTextMS: 101, LastTextMS: 700}, CreatedAt: t0.Add(time.Second)}

	t.Run("TruncatesOnce", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, answer)
		want := answer
		want.Text, want.Interrupted = "We open at nine", true
		got, err := interrupter(t, s).InterruptTurn(t.Context(), sid, 1, "We open at nine")
		if err != nil {
			t.Fatalf("InterruptTurn: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("InterruptTurn (-want +got):\n%s", diff)
		}
		got, err = interrupter(t, s).InterruptTurn(t.Context(), sid, 1, "We open")
		if err != nil {
			t.Fatalf("second InterruptTurn: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("second InterruptTurn changed the turn (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]storage.Turn{want}, mustGetCall(t, s, sid).Turns); diff != "" {
			t.Errorf("stored turns (-want +got):\n%s", diff)
		}
	})

	t.Run("HeardNothing", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, answer)
		got, err := interrupter(t, s).InterruptTurn(t.Context(), sid, 1, "")
		if err != nil || got.Text != "" || !got.Interrupted {
			t.Fatalf("InterruptTurn with nothing heard = %+v, %v; want empty interrupted text", got, err)
		}
	})

	t.Run("ConcurrentInterruptionsKeepTheFirst", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, answer)
		heard := []string{"We", "We open", "We open at", "We open at nine"}
		var mu sync.Mutex
		seen := map[string]bool{}
		concurrently(len(heard), func(i int) {
			got, err := interrupter(t, s).InterruptTurn(t.Context(), sid, 1, heard[i])
			if err != nil {
				t.Errorf("InterruptTurn(%q): %v", heard[i], err)
				return
			}
			mu.Lock()
			seen[got.Text] = true
			mu.Unlock()
		})
		if len(seen) != 1 {
			t.Errorf("concurrent interruptions returned %d different texts %v; want one", len(seen), seen)
		}
		stored := mustGetCall(t, s, sid).Turns[0]
		if !seen[stored.Text] || !stored.Interrupted {
			t.Errorf("stored turn %+v is not the one every interruption returned (%v)", stored, seen)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleCaller, Text: "Hello", Confidence: -1, CreatedAt: t0})
		_, err := interrupter(t, s).InterruptTurn(t.Context(), sid, 1, "Hi")
		wantKind(t, "InterruptTurn of a caller-only turn", err, storage.ErrNotFound)
		_, err = interrupter(t, s).InterruptTurn(t.Context(), callSID(2), 1, "Hi")
		wantKind(t, "InterruptTurn on a missing call", err, storage.ErrNotFound)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, answer)
		_, err := interrupter(t, s).InterruptTurn(t.Context(), sid, -1, "We")
		wantKind(t, "InterruptTurn of turn -1", err, storage.ErrInvalid)
		_, err = interrupter(t, s).InterruptTurn(t.Context(), sid, 1, strings.Repeat("x", storage.MaxTurnText+1))
		wantKind(t, "InterruptTurn with too much text", err, storage.ErrInvalid)
		if diff := cmp.Diff([]storage.Turn{answer}, mustGetCall(t, s, sid).Turns); diff != "" {
			t.Errorf("refused interruptions changed the turn (-want +got):\n%s", diff)
		}
	})
}

// interrupter is s's optional TurnInterrupter, which every store of this
// project implements.
func interrupter(t *testing.T, s storage.Store) storage.TurnInterrupter {
	t.Helper()
	ti, ok := s.(storage.TurnInterrupter)
	if !ok {
		t.Fatalf("%T does not implement storage.TurnInterrupter", s)
	}
	return ti
}
