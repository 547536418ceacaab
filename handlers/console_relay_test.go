package handlers_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// TestConsoleShowsStreamedTurns: a streamed call's transcript shows how
// fast each reply reached the caller and which one the caller talked
// over, with what they heard of it.
func TestConsoleShowsStreamedTurns(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, func(c *service.Config) { c.Console.SessionKey = consoleKey })
	call, c := openRelay(t, in)
	text, _ := ask(t, c, "What are your opening hours?")
	waitTurns(t, in, call.CallSID, 3)
	heard := strings.Join(strings.Fields(text)[:3], " ")
	if err := c.Interrupt(heard, 900); err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, 10*time.Second, "the interruption to be stored", func() bool {
		return in.GetCall(call.CallSID).Turns[2].Interrupted
	})

	client := browserClient(t)
	signIn(t, client, in.URL, servicetest.APIToken)
	p := get(t, client, in.URL, "/console/calls/"+call.CallSID)
	stored := in.GetCall(call.CallSID).Turns[2]
	for _, want := range []string{"interrupted by the caller", `<p class="text">` + heard + `</p>`, "Streamed: first token ", "answered in "} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the call page lacks %q (turn %+v, latency %+v)", want, stored, stored.Latency)
		}
	}
}
