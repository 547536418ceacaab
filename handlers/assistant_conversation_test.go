package handlers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchboard/assistant"
	"switchboard/storage"
)

// TestAssistantConversation holds a three-turn call through each provider's
// fake: every request carries the whole conversation so far in order, the
// caller hears exactly the model's words, and the model's end_call tool
// hangs up. Each turn is measured and logged.
func TestAssistantConversation(t *testing.T) {
	exchanges := []struct{ said, reply string }{
		{"What time do you open on Saturday?", "We open at eight on Saturdays and close at two."},
		{"Do you have gluten-free bread?", "Yes, we bake a gluten-free loaf every morning."},
		{"Great, that's all. Bye!", ""},
	}
	const farewell = "Thanks for calling Rosa's Bakery. Goodbye!"

	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := startRig(t, b, func(n int, req modelRequest) modelAnswer {
				if n == len(exchanges)-1 {
					return modelAnswer{EndCall: true, Farewell: farewell}
				}
				return modelAnswer{Text: exchanges[n].reply}
			}, nil)
			call := r.answerCall(t)

			for i, ex := range exchanges {
				n := i + 1
				tw, _ := r.say(t, call, n, ex.said)
				last := n == len(exchanges)
				want := twiml{Says: []string{ex.reply}, Gather: "/twilio/gather?turn=" + itoa(n+1)}
				if last {
					want = twiml{Says: []string{farewell}, Hangup: true}
				}
				if d := cmp.Diff(want, tw); d != "" {
					t.Errorf("turn %d TwiML (-want +got):\n%s", n, d)
				}
			}

			reqs := r.replies()
			if len(reqs) != len(exchanges) {
				t.Fatalf("fake received %d reply requests, want %d", len(reqs), len(exchanges))
			}
			history := append(slices.Clone(b.opening), msg{"assistant", r.cfg.Greeting})
			for i, req := range reqs {
				history = append(history, msg{"user", exchanges[i].said})
				if d := cmp.Diff(history, req.Messages); d != "" {
					t.Errorf("history sent on turn %d (-want +got):\n%s", i+1, d)
				}
				history = append(history, msg{"assistant", exchanges[i].reply})
				if !strings.HasPrefix(req.System, businessPrompt) {
					t.Errorf("turn %d system prompt does not start with the business prompt: %q", i+1, req.System)
				}
				for _, ex := range exchanges {
					if strings.Contains(req.System, ex.said) {
						t.Errorf("turn %d system prompt holds the caller's words %q", i+1, ex.said)
					}
				}
			}

			got := r.GetCall(call.CallSID)
			type line struct {
				Number   int
				Role     storage.Role
				Text     string
				EndsCall bool
				Error    string
			}
			var lines []line
			for _, tu := range got.Turns {
				lines = append(lines, line{tu.Number, tu.Role, tu.Text, tu.EndsCall, tu.Error})
			}
			wantLines := []line{{0, storage.RoleAssistant, r.cfg.Greeting, false, ""}}
			for i, ex := range exchanges {
				reply, ends := ex.reply, false
				if i == len(exchanges)-1 {
					reply, ends = farewell, true
				}
				wantLines = append(wantLines,
					line{i + 1, storage.RoleCaller, ex.said, false, ""},
					line{i + 1, storage.RoleAssistant, reply, ends, ""})
			}
			if d := cmp.Diff(wantLines, lines); d != "" {
				t.Errorf("stored turns (-want +got):\n%s", d)
			}

			t.Run("TurnAfterHangupRefused", func(t *testing.T) {
				resp := r.Webhook("/twilio/gather?turn=4", call.Form("SpeechResult", "Hello?"))
				if resp.Status != 409 {
					t.Errorf("turn after end_call answered %d, want 409: %s", resp.Status, resp.Body)
				}
				if n := len(r.replies()); n != len(exchanges) {
					t.Errorf("model asked %d times, want %d", n, len(exchanges))
				}
			})

			t.Run("MetricsPerTurn", func(t *testing.T) {
				labels := map[string]string{"provider": b.provider, "model": b.model, "op": "reply", "outcome": assistant.OutcomeOK}
				if n := metricSum(t, r.aiMetrics, "switchboard_assistant_request_duration_seconds", labels); n != 3 {
					t.Errorf("reply latency observed %v times, want 3", n)
				}
				for _, dir := range []string{"in", "out"} {
					if n := metricSum(t, r.aiMetrics, "switchboard_assistant_tokens_total",
						map[string]string{"provider": b.provider, "model": b.model, "op": "reply", "direction": dir}); n <= 0 {
						t.Errorf("tokens %s = %v, want > 0", dir, n)
					}
				}
				if n := metricSum(t, r.Registry, "switchboard_turns_total", map[string]string{"outcome": "ok"}); n != 3 {
					t.Errorf("switchboard_turns_total{outcome=ok} = %v, want 3", n)
				}
			})

			t.Run("LogPerTurn", func(t *testing.T) {
				recs := r.logs.records(t, "assistant reply")
				if len(recs) != 3 {
					t.Fatalf("%d reply log records, want 3", len(recs))
				}
				for i, rec := range recs {
					if rec["provider"] != b.provider || rec["model"] != b.model || rec["outcome"] != assistant.OutcomeOK ||
						rec["call_sid"] != call.CallSID {
						t.Errorf("record %d = %v", i, rec)
					}
					for _, k := range []string{"latency_ms", "tokens_in", "tokens_out"} {
						if _, ok := rec[k].(float64); !ok {
							t.Errorf("record %d has no numeric %s: %v", i, k, rec)
						}
					}
					if in, _ := rec["tokens_in"].(float64); in <= 0 {
						t.Errorf("record %d tokens_in = %v", i, rec["tokens_in"])
					}
				}
			})
		})
	}
}
