package assistant

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"switchboard/storage"
)

// MaxPromptBytes bounds the configured system prompt: every turn sends it,
// so a large one costs latency and tokens on every reply.
const MaxPromptBytes = 32 << 10

// DefaultPrompt describes the business when nothing is configured.
const DefaultPrompt = "You are the friendly telephone receptionist of a small business. " +
	"Answer questions politely and briefly, and offer to have a colleague call back when you cannot help."

// spokenRules are appended to every configured prompt: they keep replies
// short and speakable whatever the business prompt says.
const spokenRules = `You are talking with a caller on the telephone; your words are read aloud by a speech synthesizer.
Reply in one to three short spoken sentences of plain text: no markdown, lists, emoji, code or web addresses.
Reply in the caller's language. This call's language is %s; if the caller speaks another language, answer in theirs.
When the caller's request is complete, or the caller says goodbye or wants to hang up, call the end_call tool with a short farewell instead of replying in text.`

// summaryRules ask for the structured post-call summary.
const summaryRules = `You write summaries of finished telephone calls for the staff who review them.
The user message is the transcript of one call between a caller and the business's telephone assistant.
Answer with one JSON object and nothing else, with these fields:
"summary": two to four sentences describing the call;
"reason": a few words naming why the person called;
"outcome": a few words naming how the call ended (for example "answered", "callback promised", "caller hung up");
"follow_up": true when someone at the business must act on this call, otherwise false.`

// LoadPrompt returns the business description: the file at PromptFile when
// set (read once, at start-up), else Prompt, else DefaultPrompt. Errors name
// the variable and wrap storage.ErrInvalid.
func LoadPrompt(c ModelConfig) (string, error) {
	if c.PromptFile == "" {
		if len(c.Prompt) > MaxPromptBytes {
			return "", storage.Errorf(storage.ErrInvalid, "ASSISTANT_PROMPT is longer than %d bytes", MaxPromptBytes)
		}
		if p := strings.TrimSpace(c.Prompt); p != "" {
			return p, nil
		}
		return DefaultPrompt, nil
	}
	f, err := os.Open(c.PromptFile)
	if err != nil {
		return "", storage.Wrap(storage.ErrInvalid, err, "ASSISTANT_PROMPT_FILE cannot be read")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPromptBytes+1))
	if err != nil {
		return "", storage.Wrap(storage.ErrInvalid, err, "ASSISTANT_PROMPT_FILE cannot be read")
	}
	if len(b) > MaxPromptBytes {
		return "", storage.Errorf(storage.ErrInvalid, "ASSISTANT_PROMPT_FILE is larger than %d bytes", MaxPromptBytes)
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", storage.Errorf(storage.ErrInvalid, "ASSISTANT_PROMPT_FILE is empty")
	}
	return p, nil
}

// SystemPrompt is the business description followed by the fixed rules for
// spoken replies in the call's language. It holds configuration only: the
// caller's words always travel as user messages, so they cannot rewrite it.
func SystemPrompt(business, language string) string {
	return business + "\n\n" + fmt.Sprintf(spokenRules, languageTag(language))
}

// analysisRules ask for the assistant's structured analysis.
const analysisRules = `You analyze finished telephone calls for the business whose assistant took them.
The user message is the transcript of one call between a caller and the business's telephone assistant.
Fill in the requested fields from what was said in the call, and only from that; use empty or false values when the call does not say.`

// AnalysisPrompt is the system prompt for a post-call analysis.
func AnalysisPrompt(business string) string {
	return analysisRules + "\n\nThe business, as its assistant was told:\n" + business
}

// SummaryPrompt is the system prompt for post-call summaries.
func SummaryPrompt(business string) string {
	return summaryRules + "\n\nThe business, as its assistant was told:\n" + business
}

// languageRe is the shape of a BCP 47 tag such as "en", "en-US", "zh-Hant-TW".
var languageRe = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$`)

// languageTag returns s when it looks like a BCP 47 tag and en-US otherwise,
// so a malformed value cannot smuggle text into the system prompt.
func languageTag(s string) string {
	if languageRe.MatchString(s) {
		return s
	}
	return "en-US"
}

// Message is one entry of the history sent to a model.
type Message struct {
	// Role is RoleCaller (the model's "user") or RoleAssistant.
	Role storage.Role
	Text string
	// Calls are the tools an assistant message called.
	Calls []ToolUse
	// Results answer the previous message's Calls (a RoleCaller message:
	// the model's "tool" or "user" role, by provider).
	Results []ToolResult
}

// History turns a call's turns into model messages, oldest first: the
// greeting (turn 0) as the assistant's, then for each turn N the caller's
// words and the assistant's answer. The business tools an answer called
// come before its words, as the model made them: an assistant message with
// the calls and a caller message with their results, so that on later
// turns the model knows what it already looked up and does not call again.
// Empty turns are skipped and consecutive messages of one role are merged,
// because several providers require the roles to alternate (an unanswered
// caller turn is followed by another).
func History(turns []storage.Turn) []Message {
	sorted := slices.Clone(turns)
	slices.SortStableFunc(sorted, func(a, b storage.Turn) int {
		if c := cmp.Compare(a.Number, b.Number); c != 0 {
			return c
		}
		return cmp.Compare(roleOrder(a.Role), roleOrder(b.Role))
	})
	var msgs []Message
	add := func(m Message) {
		n := len(msgs)
		switch {
		case n == 0 || msgs[n-1].Role != m.Role:
			msgs = append(msgs, m)
		case len(m.Calls) > 0 && len(msgs[n-1].Calls) == 0 && len(msgs[n-1].Results) == 0:
			// Words then calls in one assistant message, as models write.
			msgs[n-1].Calls = m.Calls
		case len(m.Calls) > 0 || len(m.Results) > 0:
			msgs = append(msgs, m)
		case msgs[n-1].Text == "":
			msgs[n-1].Text = m.Text
		default:
			msgs[n-1].Text += "\n" + m.Text
		}
	}
	for _, t := range sorted {
		if t.Role != storage.RoleCaller && t.Role != storage.RoleAssistant {
			continue
		}
		if t.Role == storage.RoleAssistant && len(t.ToolCalls) > 0 {
			calls, results := replayedTools(t)
			add(Message{Role: storage.RoleAssistant, Calls: calls})
			add(Message{Role: storage.RoleCaller, Results: results})
		}
		text := strings.TrimSpace(t.Text)
		if tr := t.Transfer; tr != nil && t.Role == storage.RoleAssistant && tr.Ended() && !tr.Connected() {
			// The caller came back: the model must know the transfer failed.
			text += fmt.Sprintf("\n(The transfer to %s did not go through: %s. The caller is back on the line with you.)", tr.Target, tr.Status)
		}
		if text == "" {
			continue
		}
		add(Message{Role: t.Role, Text: text})
	}
	omitOldResults(msgs)
	return msgs
}

// MaxReplayedResults bounds the bytes of earlier tool results sent with a
// request: every turn resends the history, and a long call's results
// would otherwise grow each request (in cost and latency) without bound.
const MaxReplayedResults = 32 << 10

// omittedResult stands for a result left out of the history.
const omittedResult = `{"omitted":"an earlier result, left out to keep the conversation short; call the tool again if it is needed"}`

// omitOldResults keeps the newest results within MaxReplayedResults and
// replaces older ones with omittedResult.
func omitOldResults(msgs []Message) {
	budget := MaxReplayedResults
	for i := len(msgs) - 1; i >= 0; i-- {
		for j := len(msgs[i].Results) - 1; j >= 0; j-- {
			r := &msgs[i].Results[j]
			if len(r.Content) <= budget {
				budget -= len(r.Content)
				continue
			}
			budget = 0
			r.Content = omittedResult
		}
	}
}

// replayedTools are the stored tool calls of assistant turn t as the model
// made them and the results it was given. Calls without an identifier (or
// with a repeated one) get one from the turn, since providers pair each
// result with its call by identifier.
func replayedTools(t storage.Turn) ([]ToolUse, []ToolResult) {
	calls := make([]ToolUse, 0, len(t.ToolCalls))
	results := make([]ToolResult, 0, len(t.ToolCalls))
	seen := map[string]bool{}
	for i, tc := range t.ToolCalls {
		id := tc.ID
		if id == "" || seen[id] {
			id = fmt.Sprintf("turn%d_call%d", t.Number, i+1)
		}
		seen[id] = true
		args := strings.TrimSpace(string(tc.Arguments))
		if args == "" {
			args = "{}"
		}
		calls = append(calls, ToolUse{ID: id, Name: replayedName(tc.Name), Arguments: args})
		if tc.Error != "" || len(tc.Result) == 0 {
			msg := tc.Error
			if msg == "" {
				msg = "the tool gave no answer"
			}
			results = append(results, ToolResult{ID: id, Name: tc.Name, Content: errorJSON(msg), IsError: true})
			continue
		}
		results = append(results, ToolResult{ID: id, Name: tc.Name, Content: string(tc.Result)})
	}
	return calls, results
}

// replayedName is a stored call's tool name as the history gives it: a
// name the model made up is folded to the letters, digits, _ and - that
// providers accept in a tool call (an assistant's own tools have such
// names already), since a provider that refused it would refuse every
// later turn of the call.
func replayedName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > storage.MaxToolName {
		b = b[:storage.MaxToolName]
	}
	if len(b) == 0 {
		return "unknown_tool"
	}
	return string(b)
}

// roleOrder puts the caller's words before the assistant's answer within a turn.
func roleOrder(r storage.Role) int {
	if r == storage.RoleCaller {
		return 0
	}
	return 1
}

// Transcript renders the conversation as labelled lines, the user content of
// a summary request.
func Transcript(turns []storage.Turn) string {
	var b strings.Builder
	for _, m := range History(turns) {
		if m.Text == "" {
			// Tool calls and results: the words around them tell the call.
			continue
		}
		label := "Assistant"
		if m.Role == storage.RoleCaller {
			label = "Caller"
		}
		fmt.Fprintf(&b, "%s: %s\n", label, m.Text)
	}
	return b.String()
}
