package storagetest

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/storage"
)

// testStartCall: the incoming call's greeting is stored once, whatever
// the repeated or concurrent deliveries say.
func testStartCall(t *testing.T, newStore newStoreFunc) {
	greeting := func(text string) storage.Turn { return storage.Turn{Text: text, Confidence: -1, CreatedAt: t0} }
	t.Run("OKGreetingStored", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		c, g, err := s.StartCall(t.Context(), nc, greeting("Hello!"))
		if err != nil {
			t.Fatal(err)
		}
		want := storage.Turn{CallSID: nc.SID, Number: 0, Role: storage.RoleAssistant, Text: "Hello!", Confidence: -1, CreatedAt: t0}
		if diff := cmp.Diff(want, g); diff != "" {
			t.Errorf("greeting (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(createdCall(nc), c, ignoreUpdatedAt); diff != "" {
			t.Errorf("call (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]storage.Turn{want}, mustGetCall(t, s, nc.SID).Turns); diff != "" {
			t.Errorf("stored turns (-want +got):\n%s", diff)
		}
	})
	t.Run("RepeatedDeliveryKeepsTheFirst", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		if _, _, err := s.StartCall(t.Context(), nc, greeting("Hello!")); err != nil {
			t.Fatal(err)
		}
		_, g, err := s.StartCall(t.Context(), nc, greeting("Something else"))
		if err != nil || g.Text != "Hello!" {
			t.Errorf("second delivery got %q, %v; want the first greeting", g.Text, err)
		}
		if n := len(mustGetCall(t, s, nc.SID).Turns); n != 1 {
			t.Errorf("%d turns, want 1", n)
		}
	})
	t.Run("NoGreeting", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		_, g, err := s.StartCall(t.Context(), nc, storage.Turn{})
		if err != nil || !reflect.DeepEqual(g, storage.Turn{}) {
			t.Fatalf("StartCall without a greeting = %+v, %v; want a zero turn", g, err)
		}
		if n := len(mustGetCall(t, s, nc.SID).Turns); n != 0 {
			t.Errorf("%d turns stored without a greeting", n)
		}
		if _, g, err := s.StartCall(t.Context(), nc, greeting("Late hello")); err != nil || g.Text != "Late hello" {
			t.Errorf("greeting of an existing call: %+v, %v", g, err)
		}
	})
	t.Run("ConcurrentDeliveriesAgree", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		texts := make([]string, 12)
		var wg sync.WaitGroup
		for i := range texts {
			wg.Go(func() {
				_, g, err := s.StartCall(t.Context(), nc, greeting(fmt.Sprintf("Hello %d", i)))
				if err != nil {
					t.Errorf("StartCall #%d: %v", i, err)
				}
				texts[i] = g.Text
			})
		}
		wg.Wait()
		for _, text := range texts {
			if text != texts[0] || text == "" {
				t.Fatalf("deliveries answered %q", texts)
			}
		}
		if turns := mustGetCall(t, s, nc.SID).Turns; len(turns) != 1 || turns[0].Text != texts[0] {
			t.Errorf("stored turns %+v, want the one every delivery got", turns)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		_, _, err := s.StartCall(t.Context(), nc, greeting(strings.Repeat("a", storage.MaxTurnText+1)))
		wantKind(t, "StartCall with an oversized greeting", err, storage.ErrInvalid)
		nc.SID = "CA123"
		_, _, err = s.StartCall(t.Context(), nc, greeting("Hi"))
		wantKind(t, "StartCall with a malformed SID", err, storage.ErrInvalid)
	})
}

// testBeginTurn: the caller's words are stored once, only where they can
// follow, and a turn reads what it needs.
func testBeginTurn(t *testing.T, newStore newStoreFunc) {
	caller := func(n int, text string) storage.Turn {
		return storage.Turn{Number: n, Text: text, Confidence: 0.9, CreatedAt: t0.Add(time.Duration(n) * time.Second)}
	}
	answered := func(t *testing.T, s storage.Store, nc storage.NewCall, n int, endsCall bool) storage.Turn {
		t.Helper()
		if _, err := s.BeginTurn(t.Context(), nc, caller(n, fmt.Sprintf("words %d", n))); err != nil {
			t.Fatal(err)
		}
		return mustAddTurn(t, s, storage.Turn{CallSID: nc.SID, Number: n, Role: storage.RoleAssistant, Text: fmt.Sprintf("answer %d", n), EndsCall: endsCall, CreatedAt: t0})
	}
	roles := func(turns []storage.Turn) string {
		var b strings.Builder
		for _, t := range turns {
			fmt.Fprintf(&b, "%d%s ", t.Number, t.Role[:1])
		}
		return strings.TrimSpace(b.String())
	}
	t.Run("OKStoresAndReturnsTheConversation", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		if _, _, err := s.StartCall(t.Context(), nc, storage.Turn{Text: "Hello", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		st, err := s.BeginTurn(t.Context(), nc, caller(1, "Are you open?"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Answer != nil || roles(st.Turns) != "0a 1c" || st.Turns[1].Text != "Are you open?" || st.Turns[1].Confidence != 0.9 {
			t.Errorf("state %+v", st)
		}
		if st.Call.SID != nc.SID || st.Call.Status != storage.StatusRinging {
			t.Errorf("call %+v", st.Call)
		}
	})
	t.Run("CreatesAMissingCall", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		st, err := s.BeginTurn(t.Context(), nc, caller(1, "Hello?"))
		if err != nil || roles(st.Turns) != "1c" {
			t.Fatalf("BeginTurn on a missing call = %+v, %v", st, err)
		}
		if diff := cmp.Diff(createdCall(nc), bare(mustGetCall(t, s, nc.SID)), ignoreUpdatedAt); diff != "" {
			t.Errorf("created call (-want +got):\n%s", diff)
		}
	})
	t.Run("RepeatedDeliveryGetsTheAnswerOnly", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		want := answered(t, s, nc, 1, false)
		st, err := s.BeginTurn(t.Context(), nc, caller(1, "different words"))
		if err != nil || st.Answer == nil || len(st.Turns) != 0 {
			t.Fatalf("repeated delivery = %+v, %v; want the answer and no history", st, err)
		}
		if diff := cmp.Diff(want, *st.Answer); diff != "" {
			t.Errorf("answer (-want +got):\n%s", diff)
		}
		if turns := mustGetCall(t, s, nc.SID).Turns; roles(turns) != "1c 1a" || turns[0].Text != "words 1" {
			t.Errorf("stored turns %+v", turns)
		}
	})
	t.Run("RepeatedBeforeTheAnswerStoresOnce", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		for range 3 {
			st, err := s.BeginTurn(t.Context(), nc, caller(1, "Hello?"))
			if err != nil || roles(st.Turns) != "1c" {
				t.Fatalf("BeginTurn = %+v, %v", st, err)
			}
		}
	})
	t.Run("SilenceStoresNothingAndReadsTheAnswersOnly", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		answered(t, s, nc, 1, false)
		st, err := s.BeginTurn(t.Context(), nc, caller(2, ""))
		if err != nil || st.Answer != nil || roles(st.Turns) != "1a" {
			t.Fatalf("silence = %+v, %v; want the assistant's turns only", st, err)
		}
		if n := len(mustGetCall(t, s, nc.SID).Turns); n != 2 {
			t.Errorf("%d turns after silence, want 2", n)
		}
	})
	t.Run("TurnThatCannotFollowIsNotStored", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		answered(t, s, nc, 1, false)
		st, err := s.BeginTurn(t.Context(), nc, caller(3, "skipped ahead"))
		if err != nil || storage.CheckSequence(st.Turns, 3) == nil {
			t.Fatalf("turn 3 after turn 1 = %+v, %v", st, err)
		}
		ended := newCall(2, t0)
		answered(t, s, ended, 1, true)
		st, err = s.BeginTurn(t.Context(), ended, caller(2, "after goodbye"))
		if err != nil || storage.CheckSequence(st.Turns, 2) == nil {
			t.Fatalf("turn after the call ended = %+v, %v", st, err)
		}
		for _, sid := range []string{nc.SID, ended.SID} {
			if n := len(mustGetCall(t, s, sid).Turns); n != 2 {
				t.Errorf("%s: %d turns, want the 2 before", sid, n)
			}
		}
	})
	t.Run("CallThatEndedKeepsTheWords", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		if _, err := s.ApplyStatus(t.Context(), nc, storage.StatusEvent{Status: storage.StatusCompleted, At: t0, Sequence: 0}); err != nil {
			t.Fatal(err)
		}
		st, err := s.BeginTurn(t.Context(), nc, caller(1, "I wanted to ask"))
		if err != nil || !st.Call.Status.Terminal() || roles(st.Turns) != "1c" {
			t.Fatalf("turn of an ended call = %+v, %v", st, err)
		}
	})
	t.Run("ConcurrentDeliveriesStoreOnce", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				if _, err := s.BeginTurn(t.Context(), nc, caller(1, "Hello?")); err != nil {
					t.Errorf("BeginTurn: %v", err)
				}
			})
		}
		wg.Wait()
		if turns := mustGetCall(t, s, nc.SID).Turns; roles(turns) != "1c" {
			t.Errorf("stored turns %+v", turns)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		for name, tu := range map[string]storage.Turn{
			"TurnZero": caller(0, "Hi"), "Negative": caller(-1, "Hi"), "TooFar": caller(storage.MaxTurn+1, "Hi"),
			"TooLong": caller(1, strings.Repeat("a", storage.MaxTurnText+1)),
		} {
			_, err := s.BeginTurn(t.Context(), nc, tu)
			wantKind(t, "BeginTurn "+name, err, storage.ErrInvalid)
		}
		if _, err := s.GetCall(t.Context(), nc.SID); err == nil {
			t.Error("a refused turn created the call")
		}
	})
	t.Run("ErrGone", func(t *testing.T) {
		s := newStore(t)
		gone := endedCall(t, s, 1)
		mustDelete(t, s, gone.SID)
		_, err := s.BeginTurn(t.Context(), gone, caller(1, "Hello?"))
		wantKind(t, "BeginTurn of a deleted call", err, storage.ErrGone)
		_, _, err = s.StartCall(t.Context(), gone, storage.Turn{Text: "Hello"})
		wantKind(t, "StartCall of a deleted call", err, storage.ErrGone)
		if _, err := s.GetCall(t.Context(), gone.SID); err == nil {
			t.Error("the deleted call came back")
		}
	})
}
