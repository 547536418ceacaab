package e2e

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/assistant"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
)

// gatherDoc is the part of a <Gather> answer a caller acts on.
type gatherDoc struct {
	Gather struct {
		Action string `xml:"action,attr"`
		Say    string `xml:"Say"`
	} `xml:"Gather"`
	Say    []string  `xml:"Say"`
	Hangup *struct{} `xml:"Hangup"`
}

// parseGather reads a TwiML answer and the turn its <Gather> asks for
// next (0 when there is none).
func parseGather(t *testing.T, body string) (gatherDoc, int) {
	t.Helper()
	var d gatherDoc
	if err := xml.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("TwiML %q: %v", body, err)
	}
	if d.Gather.Action == "" {
		return d, 0
	}
	u, err := url.Parse(d.Gather.Action)
	if err != nil {
		t.Fatalf("gather action %q: %v", d.Gather.Action, err)
	}
	n, _ := strconv.Atoi(u.Query().Get("turn"))
	return d, n
}

// actionForm is the <Connect action> callback Twilio posts when a session
// ends (fields from the facts gathered from Twilio's TwiML page).
func actionForm(call twiliotest.Call, fields ...string) url.Values {
	return call.Form(append([]string{"SessionId", "VX" + strings.Repeat("0", 32), "CallStatus", "in-progress",
		"SessionDuration", "12"}, fields...)...)
}

// TestRelayFallsBackToGather: a streamed call whose relay session fails
// carries on with <Gather>, on any instance, with its whole history.
func TestRelayFallsBackToGather(t *testing.T) {
	script := assistant.NewScripted()

	t.Run("SocketRefused", func(t *testing.T) {
		// Twilio could not open the socket at all: the session failed
		// before the first prompt; the caller is asked to go on.
		c, _ := relayCluster(t, 2, 0, nil)
		a, b := c.instances[0], c.instances[1]
		call := twiliotest.NewCall(servicetest.AccountSID)
		if r := a.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")); r.Status != http.StatusOK {
			t.Fatalf("incoming call: %d %s", r.Status, r.Body)
		}
		r := b.Webhook("/twilio/relay/action", actionForm(call, "SessionStatus", "failed", "ErrorCode", "64102", "ErrorMessage", "WebSocket connection failed"))
		d, next := parseGather(t, r.Body)
		if r.Status != http.StatusOK || next != 1 || d.Hangup != nil {
			t.Fatalf("action = %d %s; want a <Gather> for turn 1", r.Status, r.Body)
		}
		r = a.Webhook("/twilio/gather?turn=1", turnForm(call, "What are your opening hours?"))
		if d, next := parseGather(t, r.Body); d.Gather.Say != script.Rules[0].Answer || next != 2 {
			t.Errorf("gather turn 1 = %s; want the answer and turn 2", r.Body)
		}
	})

	t.Run("TwilioErrorsMidCall", func(t *testing.T) {
		// Twilio keeps reporting errors (a speech provider failing): the
		// session hands the call off; the action continues it.
		c, probes := relayCluster(t, 2, 0, nil)
		a, b := c.instances[0], c.instances[1]
		lb := &balancer{instances: c.instances}
		call, s := startRelayCall(t, lb, a, onlyDrops)
		ctx := t.Context()
		for _, q := range []string{"What are your opening hours?", "Where are you located?"} {
			if err := s.Prompt(ctx, q); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Reply(ctx, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			if err := s.Error(ctx, "Invalid TTS settings (error 64101)"); err != nil {
				t.Fatal(err)
			}
		}
		f, err := s.Client().Next(10 * time.Second)
		if err != nil || f.Type != "end" {
			t.Fatalf("frame after Twilio's errors = %s, %v; want end", f.Raw, err)
		}
		waitStored(t, a, call.CallSID, 5)
		r := b.Webhook("/twilio/relay/action", actionForm(call, "SessionStatus", "ended", "HandoffData", f.HandoffData))
		d, next := parseGather(t, r.Body)
		if next != 3 || d.Hangup != nil {
			t.Fatalf("action = %s; want a <Gather> for turn 3", r.Body)
		}
		r = b.Webhook("/twilio/gather?turn=3", turnForm(call, "How much does it cost?"))
		if d, _ := parseGather(t, r.Body); d.Gather.Say != script.Rules[2].Answer {
			t.Errorf("gather turn 3 = %s", r.Body)
		}
		if got := probes[1].histories(call.CallSID); len(got) != 1 || got[0] != 6 {
			t.Errorf("B's assistant saw histories %v; want one reply given all 6 turns", got)
		}
		stored := mustCall(t, b.Calls, call.CallSID)
		want := []string{"0 assistant " + script.Greeting,
			"1 caller What are your opening hours?", "1 assistant " + script.Rules[0].Answer,
			"2 caller Where are you located?", "2 assistant " + script.Rules[1].Answer,
			"3 caller How much does it cost?", "3 assistant " + script.Rules[2].Answer}
		if d := cmp.Diff(want, transcriptOf(stored)); d != "" {
			t.Errorf("transcript (-want +got):\n%s", d)
		}
	})

	t.Run("SessionEndsMidReply", func(t *testing.T) {
		// The socket dies mid-reply and Twilio does not reconnect (the
		// close is one it treats as the end of the session): the action
		// callback answers the unanswered turn itself, once.
		c, _ := relayCluster(t, 2, 40*time.Millisecond, nil)
		a, b := c.instances[0], c.instances[1]
		lb := &balancer{instances: c.instances}
		call, s := startRelayCall(t, lb, a, func(int) bool { return false })
		ctx := t.Context()
		if err := s.Prompt(ctx, "What are your opening hours?"); err != nil {
			t.Fatal(err)
		}
		if f, err := s.Client().Next(10 * time.Second); err != nil || f.Type != "text" {
			t.Fatalf("first frame = %s, %v", f.Raw, err)
		}
		a.Server.Drain()
		a.Server.DropRelays()
		if _, _, err := s.Reply(ctx, 10*time.Second); err == nil || s.Ended() == nil {
			t.Fatalf("the session went on after a close it does not reconnect (%v)", err)
		}
		r := b.Webhook("/twilio/relay/action", actionForm(call, "SessionStatus", "failed", "ErrorCode", "64105"))
		d, next := parseGather(t, r.Body)
		if d.Gather.Say != script.Rules[0].Answer || next != 2 {
			t.Fatalf("action = %s; want the answer to turn 1 and a <Gather> for turn 2", r.Body)
		}
		// Twilio retries the callback: the same answer, nothing added.
		r2 := a.Webhook("/twilio/relay/action", actionForm(call, "SessionStatus", "failed", "ErrorCode", "64105"))
		if d2, next2 := parseGather(t, r2.Body); next2 != 2 || strings.Contains(r2.Body, script.Rules[0].Answer) {
			t.Errorf("repeated action = %s (%+v); want only the invitation to go on at turn 2", r2.Body, d2)
		}
		if got := transcriptOf(mustCall(t, b.Calls, call.CallSID)); len(got) != 3 {
			t.Errorf("transcript = %v; want the greeting, the question and one answer", got)
		}
	})

	t.Run("CallerHungUp", func(t *testing.T) {
		c, _ := relayCluster(t, 1, 0, nil)
		in := c.instances[0]
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
		form := actionForm(call, "SessionStatus", "failed")
		form.Set("CallStatus", "completed")
		r := in.Webhook("/twilio/relay/action", form)
		if d, next := parseGather(t, r.Body); next != 0 || d.Hangup == nil {
			t.Errorf("action for a finished call = %s; want a hang-up", r.Body)
		}
	})
}
