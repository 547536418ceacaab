package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/runtime/service/servicetest"

	"switchboard/assistant"
	"switchboard/storage"
)

// TestRelayTakeover runs one streamed call over three instances on one
// database. Instance A serves it first; its socket is cut in the middle of
// a reply (A stops as a crashed or drained instance does, and refuses new
// sockets); Twilio's reconnection lands on B, which has never seen the
// call, rebuilds it from the store and answers the turn A left unfinished,
// with the whole history. Then B's socket drops while the line is idle and
// the caller speaks while it is down: the words are replayed on C, which
// answers them. Every caller turn is stored once, every reply once, whole,
// and no complete reply reaches the caller twice.
func TestRelayTakeover(t *testing.T) {
	c, probes := relayCluster(t, 3, 40*time.Millisecond, nil)
	a, b, third := c.instances[0], c.instances[1], c.instances[2]
	lb := &balancer{instances: []*servicetest.Instance{b, third}}
	call, s := startRelayCall(t, lb, a, onlyDrops)
	ctx := t.Context()
	script := assistant.NewScripted()

	var heard []string
	ask := func(words string) {
		t.Helper()
		if err := s.Prompt(ctx, words); err != nil {
			t.Fatalf("prompt %q: %v", words, err)
		}
		text, _, err := s.Reply(ctx, 20*time.Second)
		if err != nil {
			t.Fatalf("reply to %q: %v", words, err)
		}
		heard = append(heard, text)
	}
	ask("What are your opening hours?")
	ask("Where are you located?")

	// Cut mid-reply: the first words reach the caller, then A is gone.
	if err := s.Prompt(ctx, "How much does it cost?"); err != nil {
		t.Fatal(err)
	}
	first, err := s.Client().Next(20 * time.Second)
	if err != nil || first.Type != "text" || first.Last {
		t.Fatalf("first frame of the reply = %s, %v", first.Raw, err)
	}
	a.Server.Drain()
	if n := a.Server.DropRelays(); n != 1 {
		t.Fatalf("A dropped %d sockets, want 1", n)
	}
	rest, _, err := s.Reply(ctx, 20*time.Second)
	if err != nil {
		t.Fatalf("the cut reply after the takeover: %v", err)
	}
	heard = append(heard, rest)
	if !strings.HasPrefix(script.Rules[2].Answer, first.Token) || rest != script.Rules[2].Answer {
		t.Errorf("cut reply: first %q, then after the takeover %q; want the whole answer %q again", first.Token, rest, script.Rules[2].Answer)
	}
	if got := probes[1].histories(call.CallSID); len(got) != 1 || got[0] != 6 {
		t.Errorf("B answered with histories %v, want one reply given all 6 stored turns (greeting, 2 exchanges, the unanswered question)", got)
	}
	ask("Can I book an appointment?")

	// Idle drop on B; the caller speaks while the socket is down.
	b.Server.Drain()
	b.Server.DropRelays()
	ask("Yes please.")
	if got := probes[2].histories(call.CallSID); len(got) != 1 || got[0] != 10 {
		t.Errorf("C answered with histories %v, want one reply given all 10 stored turns", got)
	}
	if n := s.Reconnections(); n != 2 {
		t.Errorf("%d reconnections, want 2", n)
	}

	stored := waitStored(t, third, call.CallSID, 11)
	want := []string{"0 assistant " + script.Greeting}
	for i, q := range []string{"What are your opening hours?", "Where are you located?", "How much does it cost?", "Can I book an appointment?", "Yes please."} {
		want = append(want, itoa(i+1)+" caller "+q, itoa(i+1)+" assistant "+heard[i])
	}
	if d := cmp.Diff(want, transcriptOf(stored)); d != "" {
		t.Errorf("stored transcript (-want +got):\n%s", d)
	}
	for _, tu := range stored.Turns {
		if tu.Interrupted || tu.Error != "" {
			t.Errorf("turn %d %s = %+v; want it whole", tu.Number, tu.Role, tu)
		}
	}
	t.Logf("silence heard by the caller after each drop: %v", s.Gaps())
}

// TestRelayTakeoverOfAnUnansweredPromptLostInTheDrop: the caller's words
// left just as the socket died, so Twilio cannot know whether they
// arrived and replays them. Whether or not the dead instance stored them,
// the next instance answers them once, whether Twilio sends setup again
// on the new socket or not.
func TestRelayTakeoverOfAnUnansweredPromptLostInTheDrop(t *testing.T) {
	for name, setupAgain := range map[string]bool{"SetupAgain": true, "NoSetupAgain": false} {
		t.Run(name, func(t *testing.T) { takeoverOfALostPrompt(t, setupAgain) })
	}
}

func takeoverOfALostPrompt(t *testing.T, setupAgain bool) {
	c, _ := relayCluster(t, 2, 40*time.Millisecond, nil)
	a, b := c.instances[0], c.instances[1]
	lb := &balancer{instances: []*servicetest.Instance{b}}
	call, s := startRelayCallWith(t, lb, a, onlyDrops, setupAgain)
	ctx := t.Context()
	if err := s.Prompt(ctx, "What are your opening hours?"); err != nil {
		t.Fatal(err)
	}
	// A dies before a word of the reply left.
	waitStored(t, a, call.CallSID, 2)
	a.Server.Drain()
	a.Server.DropRelays()
	text, frames, err := s.Reply(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lasts := 0
	for _, f := range frames {
		if f.Type == "text" && f.Last {
			lasts++
		}
	}
	if lasts != 1 || text != assistant.NewScripted().Rules[0].Answer {
		t.Errorf("reply after the takeover = %q in %d talk cycles; want the answer once", text, lasts)
	}
	stored := waitStored(t, b, call.CallSID, 3)
	if len(stored.Turns) != 3 {
		t.Errorf("turns = %v; want the question and one answer", transcriptOf(stored))
	}
}

// waitStored waits until the call has n turns in the store.
func waitStored(t *testing.T, in *servicetest.Instance, sid string, n int) storage.Call {
	t.Helper()
	var got storage.Call
	servicetest.Eventually(t, 10*time.Second, "turns stored", func() bool {
		got = mustCall(t, in.Calls, sid)
		return len(got.Turns) >= n
	})
	return got
}
