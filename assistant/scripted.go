package assistant

import (
	"context"
	"fmt"
	"strings"
	"time"

	"switchboard/storage"
)

// Rule answers a caller whose utterance contains any of Keywords
// (case-insensitive, whole words or phrases).
type Rule struct {
	Keywords []string
	Answer   string
	// Topic names what the caller asked about, for the summary; "" for
	// rules that are not a topic (a "yes", say).
	Topic string
}

// Scripted is the deterministic assistant used in development, in tests and
// whenever no model is configured: it greets, answers from a small rule set,
// and ends the call politely when the caller says goodbye or after MaxTurns.
// The same conversation always gets the same replies, which keeps captured
// webhook fixtures replayable byte for byte.
type Scripted struct {
	Greeting string
	Rules    []Rule
	// Fallback is said when no rule matches.
	Fallback string
	Goodbye  string
	// MaxTurns ends the call after this many caller turns.
	MaxTurns int
	// Farewells are phrases that end the call.
	Farewells []string
	// WordDelay paces Stream's words; 0 streams them at once.
	WordDelay time.Duration
	// Tools runs the call's assistant's business tools; nil refuses them.
	Tools ToolRunner
}

var _ Assistant = (*Scripted)(nil)

// NewScripted returns the scripted assistant with its default rule set.
func NewScripted() *Scripted {
	defaults := DefaultModelConfig()
	return &Scripted{
		Greeting: defaults.Greeting,
		Rules: []Rule{
			{Keywords: []string{"hours", "open", "close", "opening"}, Answer: "We are open Monday to Friday, nine in the morning to six in the evening.", Topic: "hours"},
			{Keywords: []string{"address", "where are you", "located", "location"}, Answer: "You can find us at 100 Main Street, next to the central station.", Topic: "address"},
			{Keywords: []string{"price", "cost", "how much", "pricing"}, Answer: "Our plans start at twenty dollars a month. Would you like me to have someone send you the details?", Topic: "prices"},
			{Keywords: []string{"human", "person", "agent", "representative", "operator"}, Answer: "I will ask a colleague to call you back as soon as possible. Is there anything else I can help with?", Topic: "a call back"},
			{Keywords: []string{"appointment", "book", "schedule", "reservation"}, Answer: "I can note that you would like an appointment. Which day suits you best?", Topic: "an appointment"},
			{Keywords: []string{"yes", "sure", "please"}, Answer: "Great, I have noted that. Is there anything else?"},
		},
		Fallback:  "I'm sorry, I can only help with opening hours, our address, prices and appointments. What would you like to know?",
		Goodbye:   defaults.Goodbye,
		MaxTurns:  10,
		Farewells: []string{"goodbye", "good bye", "bye", "that's all", "that is all", "no thanks", "nothing else", "hang up"},
		WordDelay: DefaultWordDelay,
	}
}

// Greet returns the configured greeting.
func (s *Scripted) Greet(ctx context.Context, c Conversation) (Reply, error) {
	return Reply{Text: s.Greeting}, ctx.Err()
}

// Reply answers the caller's last turn from the rule set.
func (s *Scripted) Reply(ctx context.Context, c Conversation) (Reply, error) {
	return s.reply(ctx, c, nil)
}

// reply is Reply; around, when set, brackets each tool request (see
// runTools).
func (s *Scripted) reply(ctx context.Context, c Conversation, around func() func()) (Reply, error) {
	if err := ctx.Err(); err != nil {
		return Reply{}, storage.Wrap(storage.ErrUnavailable, err, "assistant gave up")
	}
	last, n := lastCaller(c.Turns)
	said := normalize(last)
	if containsAny(said, s.Farewells) {
		return Reply{Text: s.Goodbye, EndCall: true}, nil
	}
	if s.MaxTurns > 0 && n >= s.MaxTurns {
		return Reply{Text: "We have reached the end of what I can do on this call. " + s.Goodbye, EndCall: true}, nil
	}
	if r, ok := s.act(ctx, c, last, around); ok {
		return r, nil
	}
	for _, r := range s.Rules {
		if containsAny(said, r.Keywords) {
			return Reply{Text: r.Answer}, nil
		}
	}
	return Reply{Text: s.Fallback}, nil
}

// Summarize describes the call from its turns: what the caller asked about
// first, how the call ended, and whether someone should follow up.
func (s *Scripted) Summarize(ctx context.Context, c Conversation) (storage.Summary, error) {
	if err := ctx.Err(); err != nil {
		return storage.Summary{}, storage.Wrap(storage.ErrUnavailable, err, "assistant gave up")
	}
	var topics []string
	followUp := false
	callerTurns := 0
	for _, t := range c.Turns {
		if t.Role != storage.RoleCaller {
			continue
		}
		callerTurns++
		said := normalize(t.Text)
		for _, r := range s.Rules {
			if r.Topic != "" && containsAny(said, r.Keywords) && !contains(topics, r.Topic) {
				topics = append(topics, r.Topic)
			}
		}
		if containsAny(said, []string{"human", "person", "agent", "representative", "call me back", "appointment", "book"}) {
			followUp = true
		}
	}
	reason := "general enquiry"
	if len(topics) > 0 {
		reason = strings.Join(topics, ", ")
	}
	outcome := "caller hung up"
	if n := len(c.Turns); n > 0 && c.Turns[n-1].EndsCall {
		outcome = "assistant ended the call"
	}
	if callerTurns == 0 {
		outcome = "caller said nothing"
	}
	text := fmt.Sprintf("The caller spoke %d time(s) about %s; %s.", callerTurns, reason, outcome)
	if followUp {
		text += " A follow-up was requested."
	}
	return storage.Summary{Text: text, Reason: reason, Outcome: outcome, FollowUp: followUp, CreatedAt: time.Now().UTC()}, nil
}

func lastCaller(turns []storage.Turn) (string, int) {
	n := 0
	last := ""
	for _, t := range turns {
		if t.Role == storage.RoleCaller {
			n++
			last = t.Text
		}
	}
	return last, n
}

// normalize lowercases s and keeps letters, digits and apostrophes, with
// single spaces around, so keywords match as whole words or phrases.
func normalize(s string) string {
	var b strings.Builder
	b.WriteByte(' ')
	space := true
	for _, r := range strings.ToLower(s) {
		if r == '\'' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	if !space {
		b.WriteByte(' ')
	}
	return b.String()
}

func containsAny(normalized string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(normalized, " "+p+" ") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// transferWords ask for a transfer when a target's name is said with them;
// personWords ask for the first target when no name is said.
var (
	transferWords = []string{"transfer", "connect me", "put me through", "talk to", "speak to", "speak with", "talk with"}
	personWords   = []string{"human", "person", "agent", "representative", "operator"}
)

// act is the scripted assistant's deterministic way to exercise the
// call's assistant's actions, for development and tests:
//   - "transfer me to Sales" (a transfer word and a target's name), or
//     asking for a person when there are targets, transfers to that
//     target (the first one), with the caller's words as the summary;
//   - "use order_status {"order": "A-1"}" (or the tool's name with spaces,
//     "order status") calls that tool with the JSON object in the
//     utterance as its arguments ({} without one) and says its answer.
func (s *Scripted) act(ctx context.Context, c Conversation, last string, around func() func()) (Reply, bool) {
	a := c.Assistant
	if a == nil {
		return Reply{}, false
	}
	said := normalize(last)
	if len(a.TransferTargets) > 0 {
		for _, t := range a.TransferTargets {
			if containsAny(said, transferWords) && containsAny(said, []string{strings.TrimSpace(normalize(t.Name))}) {
				return s.transfer(c, t, last), true
			}
		}
		if containsAny(said, personWords) {
			return s.transfer(c, a.TransferTargets[0], last), true
		}
	}
	for _, t := range a.Tools {
		name := strings.ToLower(t.Name)
		spaced := strings.NewReplacer("_", " ", "-", " ").Replace(name)
		if !strings.Contains(strings.ToLower(last), name) && !containsAny(said, []string{strings.TrimSpace(normalize(spaced))}) {
			continue
		}
		args := "{}"
		if i, j := strings.Index(last, "{"), strings.LastIndex(last, "}"); i >= 0 && j > i {
			args = last[i : j+1]
		}
		calls, results := runTools(ctx, s.Tools, c, []ToolUse{{ID: "scripted_1", Name: t.Name, Arguments: args}}, around)
		spoken := strings.NewReplacer("_", " ", "-", " ").Replace(t.Name)
		if results[0].IsError {
			return Reply{Text: fmt.Sprintf("I couldn't get an answer from %s: %s. Is there anything else?", spoken, calls[0].Error), ToolCalls: calls}, true
		}
		return Reply{Text: fmt.Sprintf("%s says %s. Is there anything else?", spoken, truncateBytes(results[0].Content, 300)), ToolCalls: calls}, true
	}
	return Reply{}, false
}

func (s *Scripted) transfer(c Conversation, t storage.TransferTarget, last string) Reply {
	summary := "The caller asked to be transferred. They said: " + truncateBytes(strings.TrimSpace(last), 600)
	return Reply{Text: "Please hold while I transfer you to " + t.Name + ".",
		Transfer: &TransferRequest{Target: t, Summary: summary}}
}
