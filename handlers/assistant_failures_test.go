package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/assistant"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// Phrases the caller hears when the model fails; they are fixed by the
// handlers' TwiML contract.
const (
	apology = "Sorry, I'm having trouble answering right now. Could you say that again?"
	giveUp  = "I'm sorry, I can't answer right now. Please call again later. Goodbye!"
)

// deadlineMargin is how far past the turn deadline a webhook may answer:
// the store writes and the TwiML, with room for a loaded test machine. It
// bounds behaviour (an answer inside Twilio's 15 s), not speed.
const deadlineMargin = 2 * time.Second

// assistantTurn returns stored assistant turn n as the API shows it.
func assistantTurn(t *testing.T, in *servicetest.Instance, callSID string, n int) storage.Turn {
	t.Helper()
	for _, tu := range in.GetCall(callSID).Turns {
		if tu.Number == n && tu.Role == storage.RoleAssistant {
			return tu
		}
	}
	t.Fatalf("no assistant turn %d stored for %s", n, callSID)
	return storage.Turn{}
}

// TestAssistantSlowProvider shows a model answering after the turn deadline:
// the webhook answers at the deadline with the apology and asks for the next
// turn, and the stored turn records the timeout.
func TestAssistantSlowProvider(t *testing.T) {
	const deadline = time.Second
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := startRig(t, b, func(int, modelRequest) modelAnswer {
				return modelAnswer{Text: "Too late to matter.", Delay: 5 * time.Second}
			}, func(c *service.Config, _ *servicetest.Options) { c.Model.TurnTimeout = deadline })
			call := r.answerCall(t)

			tw, took := r.say(t, call, 1, "Are you open on Sunday?")
			t.Logf("webhook answered in %s with a %s turn deadline", took, deadline)
			if d := cmp.Diff(twiml{Says: []string{apology}, Gather: "/twilio/gather?turn=2"}, tw); d != "" {
				t.Errorf("TwiML (-want +got):\n%s", d)
			}
			if took > deadline+deadlineMargin {
				t.Errorf("webhook answered after %s; the turn deadline is %s", took, deadline)
			}
			turn := assistantTurn(t, r.Instance, call.CallSID, 1)
			if turn.Text != apology || turn.EndsCall || !strings.Contains(turn.Error, "timed out") {
				t.Errorf("stored turn = %+v, want the apology with a timeout error", turn)
			}
			if n := metricSum(t, r.aiMetrics, "switchboard_assistant_request_duration_seconds",
				map[string]string{"provider": b.provider, "op": "reply", "outcome": assistant.OutcomeTimeout}); n != 1 {
				t.Errorf("timeouts observed %v times, want 1", n)
			}
			if n := metricSum(t, r.Registry, "switchboard_turns_total", map[string]string{"outcome": "failed"}); n != 1 {
				t.Errorf("switchboard_turns_total{outcome=failed} = %v, want 1", n)
			}
		})
	}
}

// TestAssistantProviderFailures shows each kind of provider failure through
// the webhooks: Twilio always gets TwiML, never a 5xx.
func TestAssistantProviderFailures(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("RateLimitedThenAnsweredUsesReply", func(t *testing.T) {
				const reply = "We have sourdough and rye today."
				r := startRig(t, b, func(n int, _ modelRequest) modelAnswer {
					if n == 0 {
						return modelAnswer{Status: http.StatusTooManyRequests}
					}
					return modelAnswer{Text: reply}
				}, nil)
				call := r.answerCall(t)
				tw, _ := r.say(t, call, 1, "What bread do you have?")
				if d := cmp.Diff(twiml{Says: []string{reply}, Gather: "/twilio/gather?turn=2"}, tw); d != "" {
					t.Errorf("TwiML (-want +got):\n%s", d)
				}
				if n := len(r.replies()); n != 2 {
					t.Errorf("fake received %d requests, want 2 (429, then the retry)", n)
				}
				if turn := assistantTurn(t, r.Instance, call.CallSID, 1); turn.Text != reply || turn.Error != "" {
					t.Errorf("stored turn = %+v", turn)
				}
				if n := metricSum(t, r.aiMetrics, "switchboard_assistant_retries_total", map[string]string{"provider": b.provider}); n != 1 {
					t.Errorf("retries counted %v, want 1", n)
				}
			})

			t.Run("ServerErrorForeverEndsCallAfterMaxFailures", func(t *testing.T) {
				const deadline = time.Second
				r := startRig(t, b, func(int, modelRequest) modelAnswer {
					return modelAnswer{Status: http.StatusInternalServerError}
				}, func(c *service.Config, _ *servicetest.Options) {
					c.Model.TurnTimeout = deadline
					c.MaxFailures = 3
				})
				call := r.answerCall(t)
				for n := 1; n <= 3; n++ {
					tw, took := r.say(t, call, n, "Hello, can you hear me?")
					t.Logf("turn %d answered in %s", n, took)
					want := twiml{Says: []string{apology}, Gather: "/twilio/gather?turn=" + itoa(n+1)}
					if n == 3 {
						want = twiml{Says: []string{giveUp}, Hangup: true}
					}
					if d := cmp.Diff(want, tw); d != "" {
						t.Errorf("turn %d TwiML (-want +got):\n%s", n, d)
					}
					if took > deadline+deadlineMargin {
						t.Errorf("turn %d answered after %s; the turn deadline is %s", n, took, deadline)
					}
					turn := assistantTurn(t, r.Instance, call.CallSID, n)
					if !strings.Contains(turn.Error, "500") || turn.EndsCall != (n == 3) {
						t.Errorf("stored turn %d = %+v, want a 500 error, ending the call only at turn 3", n, turn)
					}
				}
				if reqs := len(r.replies()); reqs <= 3 {
					t.Errorf("fake received %d requests over 3 turns, want retries within each turn", reqs)
				}
				if n := metricSum(t, r.Registry, "switchboard_turns_total", map[string]string{"outcome": "failed"}); n != 3 {
					t.Errorf("switchboard_turns_total{outcome=failed} = %v, want 3", n)
				}
			})

			t.Run("FailureCountResetsAfterAnAnswer", func(t *testing.T) {
				// Turns 1 and 2 fail, 3 is answered, 4 and 5 fail: the call
				// goes on, because only failures in a row end it.
				r := startRig(t, b, func(n int, req modelRequest) modelAnswer {
					if last := req.Messages[len(req.Messages)-1].Text; last == "Third try." {
						return modelAnswer{Text: "Yes, I can hear you now."}
					}
					return modelAnswer{Raw: "not json"}
				}, func(c *service.Config, _ *servicetest.Options) { c.MaxFailures = 3 })
				call := r.answerCall(t)
				for n, words := range []string{"First try.", "Second try.", "Third try.", "Fourth try.", "Fifth try."} {
					tw, _ := r.say(t, call, n+1, words)
					if tw.Hangup {
						t.Fatalf("turn %d hung up: %+v", n+1, tw)
					}
				}
			})

			t.Run("MalformedJSONGetsApologyNot5xx", func(t *testing.T) {
				r := startRig(t, b, func(int, modelRequest) modelAnswer {
					return modelAnswer{Raw: `{"choices":[{"message":{"content":"half an ans`}
				}, nil)
				call := r.answerCall(t)
				resp := r.Webhook("/twilio/gather?turn=1", call.Form("SpeechResult", "Do you deliver?"))
				if resp.Status != http.StatusOK {
					t.Fatalf("Twilio got %d, want 200 TwiML: %s", resp.Status, resp.Body)
				}
				tw := parseTwiML(t, resp)
				if d := cmp.Diff(twiml{Says: []string{apology}, Gather: "/twilio/gather?turn=2"}, tw); d != "" {
					t.Errorf("TwiML (-want +got):\n%s", d)
				}
				if n := len(r.replies()); n != 1 {
					t.Errorf("fake received %d requests, want 1: a malformed answer is not retried", n)
				}
				turn := assistantTurn(t, r.Instance, call.CallSID, 1)
				if turn.Text != apology || !strings.Contains(turn.Error, "malformed") {
					t.Errorf("stored turn = %+v, want the apology with a malformed-response error", turn)
				}
				if n := metricSum(t, r.aiMetrics, "switchboard_assistant_request_duration_seconds",
					map[string]string{"provider": b.provider, "op": "reply", "outcome": assistant.OutcomeMalformed}); n != 1 {
					t.Errorf("malformed outcomes observed %v times, want 1", n)
				}
			})
		})
	}
}
