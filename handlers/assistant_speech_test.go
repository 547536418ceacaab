package handlers_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// markup is what a speech synthesizer would read aloud literally.
var markup = regexp.MustCompile("[*#`_~|]|\\]\\(|https?://|www\\.|^\\s*[-+•]\\s|\\n")

// TestAssistantRepliesAreSpeakable shows replies written for a screen
// (markdown, lists, links, code, length) reaching the caller as short plain
// sentences, the same in the TwiML and in the stored turn.
func TestAssistantRepliesAreSpeakable(t *testing.T) {
	long := strings.Repeat("Our sourdough is fermented for two days, which gives it a deep and slightly sour flavour. ", 40)
	tests := []struct {
		name  string
		reply string
		// keep are words the caller must still hear.
		keep []string
	}{
		{
			name: "MarkdownHeadingsAndEmphasis",
			reply: "## Opening hours\n\n**Monday to Friday**: seven to six.\n" +
				"*Saturday*: eight to two. __Sunday__: `closed`.",
			keep: []string{"Opening hours", "Monday to Friday", "Saturday", "Sunday", "closed"},
		},
		{
			name:  "List",
			reply: "We bake:\n- sourdough\n- rye\n- baguettes\n\n1. Order by noon.\n2. Collect after four.",
			keep:  []string{"sourdough", "rye", "baguettes", "Order by noon", "Collect after four"},
		},
		{
			name: "LinksAndCode",
			reply: "See [our menu](https://rosas.example.com/menu) or visit https://rosas.example.com/order now.\n" +
				"```json\n{\"order\": 1}\n```\nCall us at www.rosas.example.com for more.",
			keep: []string{"our menu"},
		},
		{
			name:  "VeryLong",
			reply: long,
			keep:  []string{"Our sourdough is fermented for two days"},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := startRig(t, b, func(int, modelRequest) modelAnswer { return modelAnswer{Text: tt.reply} }, nil)
					call := r.answerCall(t)
					tw, _ := r.say(t, call, 1, "Tell me about your bakery.")
					if len(tw.Says) != 1 || tw.Gather != "/twilio/gather?turn=2" || tw.Hangup {
						t.Fatalf("TwiML = %+v, want one <Say> and the next <Gather>", tw)
					}
					said := tw.Says[0]
					t.Logf("caller hears %q", said)
					if m := markup.FindString(said); m != "" {
						t.Errorf("caller hears markup %q in %q", m, said)
					}
					if n := utf8.RuneCountInString(said); n == 0 || n > r.cfg.MaxReplyChars {
						t.Errorf("caller hears %d characters, want 1 to %d: %q", n, r.cfg.MaxReplyChars, said)
					}
					for _, w := range tt.keep {
						if !strings.Contains(said, w) {
							t.Errorf("caller does not hear %q in %q", w, said)
						}
					}
					if !strings.ContainsAny(said[len(said)-1:], ".!?") {
						t.Errorf("reply does not end a sentence: %q", said)
					}
					if turn := assistantTurn(t, r.Instance, call.CallSID, 1); turn.Text != said || turn.Error != "" {
						t.Errorf("stored turn = %+v, want the spoken text %q", turn, said)
					}
				})
			}

			t.Run("NothingSpeakableGetsApology", func(t *testing.T) {
				r := startRig(t, b, func(int, modelRequest) modelAnswer {
					return modelAnswer{Text: "```\nSELECT * FROM hours;\n```"}
				}, nil)
				call := r.answerCall(t)
				tw, _ := r.say(t, call, 1, "When are you open?")
				if len(tw.Says) != 1 || tw.Says[0] != apology || tw.Gather != "/twilio/gather?turn=2" {
					t.Errorf("TwiML = %+v, want the apology and the next <Gather>", tw)
				}
			})

			t.Run("ShorterConfiguredBound", func(t *testing.T) {
				r := startRig(t, b, func(int, modelRequest) modelAnswer { return modelAnswer{Text: long} },
					func(c *service.Config, _ *servicetest.Options) { c.Model.MaxReplyChars = 120 })
				call := r.answerCall(t)
				tw, _ := r.say(t, call, 1, "Tell me about your bread.")
				if len(tw.Says) != 1 || utf8.RuneCountInString(tw.Says[0]) > 120 || tw.Says[0] == "" {
					t.Errorf("TwiML = %+v, want one <Say> of at most 120 characters", tw)
				}
			})
		})
	}
}
