package handlers_test

import (
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/runtime/service"
	"switchboard/storage"
)

// TestRelayTakeoverAnswersTheUnansweredTurnOnce: the socket that takes over
// a call whose last caller turn has no reply (its instance died, or its
// socket dropped mid-reply) answers it by itself when Twilio replays
// nothing; a replay of the same words arriving later is not answered
// again, and the caller does not hear the reply twice.
func TestRelayTakeoverAnswersTheUnansweredTurnOnce(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, func(c *service.Config) { c.Relay.ResumeAfter = 50 * time.Millisecond })
	call, _ := incomingRelayCall(t, in)
	if _, _, err := in.Calls.AddTurn(t.Context(), storage.Turn{CallSID: call.CallSID, Number: 1, Role: storage.RoleCaller,
		Text: "Where are you located?", Confidence: -1}); err != nil {
		t.Fatal(err)
	}
	c := reconnect(t, in, call)
	text, _, err := c.Reply(10 * time.Second)
	if err != nil || text != s.Rules[1].Answer {
		t.Fatalf("the socket said %q (%v); want the answer to the unanswered turn", text, err)
	}
	waitTurns(t, in, call.CallSID, 3)
	if err := c.Prompt("where are you located"); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Next(time.Second); err == nil {
		t.Errorf("a late replay of the answered words was answered again: %s", f.Raw)
	}
	// The next words are a new turn.
	if text, _ := ask(t, c, "What are your opening hours?"); text != s.Rules[0].Answer {
		t.Errorf("next reply = %q", text)
	}
	got := waitTurns(t, in, call.CallSID, 5)
	if len(got.Turns) != 5 || got.Turns[3].Number != 2 {
		t.Errorf("turns = %v", transcript(got))
	}
}

// TestRelayTakeoverAfterACallThatEnded: a socket opening on a call whose
// last reply ended it, or that is over, answers nothing by itself.
func TestRelayTakeoverAfterACallThatEnded(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, func(c *service.Config) { c.Relay.ResumeAfter = 20 * time.Millisecond })
	call, _ := incomingRelayCall(t, in)
	for _, tu := range []storage.Turn{
		{CallSID: call.CallSID, Number: 1, Role: storage.RoleCaller, Text: "Goodbye", Confidence: -1},
		{CallSID: call.CallSID, Number: 1, Role: storage.RoleAssistant, Text: s.Goodbye, Confidence: -1, EndsCall: true},
	} {
		if _, _, err := in.Calls.AddTurn(t.Context(), tu); err != nil {
			t.Fatal(err)
		}
	}
	c := reconnect(t, in, call)
	if f, err := c.Next(500 * time.Millisecond); err == nil {
		t.Errorf("a socket on an ended call said %s", f.Raw)
	}
}
