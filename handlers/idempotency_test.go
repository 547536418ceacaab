package handlers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"switchboard/assistant"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// countingAssistant counts the replies it is asked for.
type countingAssistant struct {
	*assistant.Scripted
	replies atomic.Int64
}

func (c *countingAssistant) Reply(ctx context.Context, conv assistant.Conversation) (assistant.Reply, error) {
	c.replies.Add(1)
	return c.Scripted.Reply(ctx, conv)
}

func TestTurnDeliveredTwice(t *testing.T) {
	ai := &countingAssistant{Scripted: assistant.NewScripted()}
	in := servicetest.Start(t, servicetest.Options{Assistant: ai})
	call := twiliotest.NewCall(servicetest.AccountSID)
	in.Webhook("/twilio/voice", call.Form())
	form := call.Form("SpeechResult", "What are your hours?")
	first := in.Webhook("/twilio/gather?turn=1", form)
	second := in.Webhook("/twilio/gather?turn=1", form)
	if first.Status != http.StatusOK || first.Body != second.Body {
		t.Fatalf("repeat differs:\n%s\n%s", first.Body, second.Body)
	}
	if n := ai.replies.Load(); n != 1 {
		t.Errorf("assistant asked %d times, want 1", n)
	}
	if got := len(in.GetCall(call.CallSID).Turns); got != 3 {
		t.Errorf("%d turns stored, want 3 (greeting, caller, assistant)", got)
	}
}

func TestTurnDeliveredConcurrently(t *testing.T) {
	ai := &countingAssistant{Scripted: assistant.NewScripted()}
	in := servicetest.Start(t, servicetest.Options{Assistant: ai})
	call := twiliotest.NewCall(servicetest.AccountSID)
	in.Webhook("/twilio/voice", call.Form())
	form := call.Form("SpeechResult", "How much does it cost?")
	bodies := make([]string, 20)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() {
			r := in.Webhook("/twilio/gather?turn=1", form)
			if r.Status != http.StatusOK {
				t.Errorf("delivery %d: %d %s", i, r.Status, r.Body)
			}
			bodies[i] = r.Body
		})
	}
	wg.Wait()
	for i, b := range bodies {
		if b != bodies[0] {
			t.Fatalf("delivery %d answered differently:\n%s\n%s", i, b, bodies[0])
		}
	}
	got := in.GetCall(call.CallSID)
	n := 0
	for _, tu := range got.Turns {
		if tu.Number == 1 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("turn 1 stored %d times (caller+assistant), want 2", n)
	}
	if r := ai.replies.Load(); r < 1 {
		t.Errorf("assistant asked %d times", r)
	}
}

func TestStatusShuffledAndDuplicated(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	for trial := range 8 {
		t.Run(fmt.Sprint("Trial", trial), func(t *testing.T) {
			call := twiliotest.NewCall(servicetest.AccountSID)
			in.Webhook("/twilio/voice", call.Form())
			final := []string{"completed", "busy", "no-answer", "failed", "canceled"}[trial%5]
			statuses := []string{"queued", "ringing", "in-progress", "in-progress", final, final, "ringing"}
			rand.Shuffle(len(statuses), func(i, j int) { statuses[i], statuses[j] = statuses[j], statuses[i] })
			// The terminal status must win even when older ones follow it.
			for i, st := range statuses {
				r := in.Webhook("/twilio/status", call.Form("CallStatus", st, "SequenceNumber", fmt.Sprint(i)))
				if r.Status != http.StatusNoContent {
					t.Fatalf("%s: %d %s", st, r.Status, r.Body)
				}
			}
			got := in.GetCall(call.CallSID)
			if string(got.Status) != final {
				t.Errorf("final status %s after %v, want %s", got.Status, statuses, final)
			}
			seen := map[storage.CallStatus]int{}
			for _, ev := range got.Timeline {
				seen[ev.Status]++
			}
			for st, n := range seen {
				if n != 1 {
					t.Errorf("timeline has %s %d times", st, n)
				}
			}
		})
	}
}

// TestConcurrentCalls drives 50 calls at once; each must end with exactly
// its own turns, in order.
func TestConcurrentCalls(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	const calls = 50
	said := func(c, turn int) string { return fmt.Sprintf("call %d asks about hours, turn %d", c, turn) }
	sids := make([]string, calls)
	var wg sync.WaitGroup
	for c := range calls {
		wg.Go(func() {
			call := twiliotest.NewCall(servicetest.AccountSID)
			sids[c] = call.CallSID
			if r := in.Webhook("/twilio/voice", call.Form()); r.Status != http.StatusOK {
				t.Errorf("call %d voice: %d", c, r.Status)
				return
			}
			for turn := 1; turn <= 3; turn++ {
				if r := in.Webhook(fmt.Sprintf("/twilio/gather?turn=%d", turn), call.Form("SpeechResult", said(c, turn))); r.Status != http.StatusOK {
					t.Errorf("call %d turn %d: %d %s", c, turn, r.Status, r.Body)
					return
				}
			}
			in.Webhook("/twilio/status", call.Form("CallStatus", "completed"))
		})
	}
	wg.Wait()
	for c, sid := range sids {
		got := in.GetCall(sid)
		var callerTexts []string
		for i, tu := range got.Turns {
			wantRole := storage.RoleCaller
			if i%2 == 0 {
				wantRole = storage.RoleAssistant
			}
			if tu.Role != wantRole || tu.Number != (i+1)/2 {
				t.Errorf("call %d turn %d: %s #%d, want %s #%d", c, i, tu.Role, tu.Number, wantRole, (i+1)/2)
			}
			if tu.Role == storage.RoleCaller {
				callerTexts = append(callerTexts, tu.Text)
			}
		}
		want := []string{said(c, 1), said(c, 2), said(c, 3)}
		if strings.Join(callerTexts, "|") != strings.Join(want, "|") {
			t.Errorf("call %d caller turns %q, want %q", c, callerTexts, want)
		}
	}
}

func TestSilence(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)
	in.Webhook("/twilio/voice", call.Form())
	r := in.Webhook("/twilio/gather?silence=1&turn=1", call.Form())
	assertTwiML(t, r)
	if !strings.Contains(r.Body, "Are you still there?") || !strings.Contains(r.Body, `action="`+servicetest.PublicBaseURL+`/twilio/gather?turn=1"`) ||
		!strings.Contains(r.Body, ">"+servicetest.PublicBaseURL+"/twilio/gather?silence=2&amp;turn=1</Redirect>") {
		t.Errorf("first silence:\n%s", r.Body)
	}
	r = in.Webhook("/twilio/gather?silence=2&turn=1", call.Form())
	if !strings.Contains(r.Body, "<Hangup>") {
		t.Errorf("repeated silence does not end the call:\n%s", r.Body)
	}
	if n := len(in.GetCall(call.CallSID).Turns); n != 1 {
		t.Errorf("silence stored turns: %d, want only the greeting", n)
	}
}

// TestTurnAfterCallEnded: the caller hung up mid-turn and the gather arrives
// after the terminal status. Their words are kept; the assistant is not asked.
func TestTurnAfterCallEnded(t *testing.T) {
	ai := &countingAssistant{Scripted: assistant.NewScripted()}
	in := servicetest.Start(t, servicetest.Options{Assistant: ai})
	call := twiliotest.NewCall(servicetest.AccountSID)
	in.Webhook("/twilio/voice", call.Form())
	in.Webhook("/twilio/status", call.Form("CallStatus", "completed"))
	r := in.Webhook("/twilio/gather?turn=1", call.Form("SpeechResult", "I wanted to ask about"))
	assertTwiML(t, r)
	if !strings.Contains(r.Body, "<Hangup>") || strings.Contains(r.Body, "<Gather") {
		t.Errorf("late turn answered:\n%s", r.Body)
	}
	if n := ai.replies.Load(); n != 0 {
		t.Errorf("assistant asked %d times for a finished call", n)
	}
	got := in.GetCall(call.CallSID)
	if len(got.Turns) != 2 || got.Turns[1].Text != "I wanted to ask about" {
		t.Errorf("turns = %+v", got.Turns)
	}
}
