// Package assistant is the AI side of a call: the interface the webhook
// handlers use to greet the caller, answer each utterance and summarize a
// finished call, and a deterministic scripted implementation that is the
// embedded default. Model-backed implementations live in subpackages.
package assistant

import (
	"context"
	"encoding/json"

	"switchboard/storage"
)

// Conversation is everything an assistant may use to answer: the call's
// participants and its turns so far, oldest first. When Reply is called the
// last turn is the caller's.
type Conversation struct {
	CallSID  string
	From     string
	To       string
	Language string // BCP 47, e.g. "en-US"
	Turns    []storage.Turn
	// Assistant is the assistant version the call runs with: its prompt,
	// model, limits and analysis schema. Nil, or zero fields, mean the
	// deployment's own settings.
	Assistant *storage.Assistant
}

// Reply is what the assistant says next.
type Reply struct {
	// Text is plain speakable text: no markup, lists or URLs.
	Text string
	// EndCall: say Text, then hang up.
	EndCall bool
}

// Assistant answers a caller. Implementations are safe for concurrent use and
// honour ctx's deadline: the caller is waiting on the line.
type Assistant interface {
	// Greet returns the first thing the caller hears.
	Greet(ctx context.Context, c Conversation) (Reply, error)
	// Reply answers the caller's last turn given the whole conversation.
	Reply(ctx context.Context, c Conversation) (Reply, error)
	// Summarize describes a finished call for the people who review it.
	Summarize(ctx context.Context, c Conversation) (storage.Summary, error)
	// Analyze fills c.Assistant's analysis schema in from the finished
	// call: a JSON object valid against the schema. ErrInvalid when the
	// assistant has no schema or an invalid one.
	Analyze(ctx context.Context, c Conversation) (json.RawMessage, error)
}
