package handlers_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/storage"
)

// TestRelayTurnsOnEveryStore runs a streamed call with an interruption on
// the memory store and on PostgreSQL, and reads the turns back from the
// store itself: numbers, words heard, interruption and latency survive.
func TestRelayTurnsOnEveryStore(t *testing.T) {
	for _, st := range callStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			fake := startStreamFake(t, func(n int) streamPlan {
				if n == 0 {
					return streamPlan{tokens: strings.SplitAfter("We open at nine in the morning and close at six in the evening.", " "), gap: 30 * time.Millisecond}
				}
				return streamPlan{tokens: []string{"You are welcome."}}
			})
			in := startRelay(t, openaiStreamer(t, fake.BaseURL(), nil), store, nil)
			call, c := openRelay(t, in)
			if err := c.Prompt("When are you open?"); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := c.Next(20 * time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Interrupt("We open at", 700); err != nil {
				t.Fatal(err)
			}
			waitTurns(t, in, call.CallSID, 3)
			for {
				if _, err := c.Next(100 * time.Millisecond); err != nil {
					break
				}
			}
			ask(t, c, "Thanks.")
			waitTurns(t, in, call.CallSID, 5)

			got, err := store.GetCall(t.Context(), call.CallSID)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"0 | assistant | " + assistant.NewScripted().Greeting, "1 | caller | When are you open?",
				"1 | assistant | We open at", "2 | caller | Thanks.", "2 | assistant | You are welcome."}
			if strings.Join(transcript(got), "\n") != strings.Join(want, "\n") {
				t.Fatalf("stored turns:\n%s\nwant:\n%s", strings.Join(transcript(got), "\n"), strings.Join(want, "\n"))
			}
			cut, whole := got.Turns[2], got.Turns[4]
			if !cut.Interrupted || whole.Interrupted {
				t.Errorf("interrupted flags = %v, %v; want true, false", cut.Interrupted, whole.Interrupted)
			}
			for _, tu := range []storage.Turn{cut, whole} {
				if tu.Latency == nil || tu.Latency.FirstTextMS < 0 || tu.Confidence != -1 {
					t.Errorf("turn %d = %+v; want its latency stored", tu.Number, tu)
				}
			}
			if got.Turns[1].Latency != nil || got.Turns[0].Latency != nil {
				t.Errorf("caller and greeting turns carry a latency: %+v", got.Turns[:2])
			}
		})
	}
}
