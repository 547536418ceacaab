package storage

import (
	"context"
	"time"
)

// Role says who spoke a turn.
type Role string

// The two speakers of a call.
const (
	RoleAssistant Role = "assistant"
	RoleCaller    Role = "caller"
)

// MaxTurn is the highest turn number a call may reach.
const MaxTurn = 200

// MaxTurnText bounds the text of one turn, in bytes.
const MaxTurnText = 8 << 10

// Turn is one utterance. Turn 0 is the assistant's greeting; turn N (N ≥ 1)
// is the caller's Nth utterance and the assistant's answer to it, both
// numbered N. A turn is stored at most once per (call, number, role).
type Turn struct {
	CallSID string `json:"-"`
	Number  int    `json:"number"`
	Role    Role   `json:"role"`
	Text    string `json:"text"`
	// Confidence is Twilio's speech confidence (0–1) for caller turns, or -1.
	Confidence float64 `json:"confidence,omitempty"`
	// EndsCall: the assistant said goodbye and the call was hung up.
	EndsCall bool `json:"ends_call,omitempty"`
	// Error records why the assistant could not answer (the caller heard an
	// apology instead); "" when the turn succeeded.
	Error string `json:"error,omitempty"`
	// Interrupted: the caller talked over this assistant turn (streamed
	// calls); Text then holds only what the caller heard.
	Interrupted bool `json:"interrupted,omitempty"`
	// Latency is how fast a streamed reply reached the caller; nil for
	// <Gather> turns and caller turns.
	Latency   *Latency  `json:"latency,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Latency measures one streamed reply from the moment the caller's words
// arrived, in milliseconds: until the model's first token, until the first
// text frame left for Twilio, and until the last one did. A stage that never
// happened (the caller interrupted first) is -1.
type Latency struct {
	FirstTokenMS float64 `json:"first_token_ms"`
	FirstTextMS  float64 `json:"first_text_ms"`
	LastTextMS   float64 `json:"last_text_ms"`
}

// MaxLatencyMS bounds a stored latency: a turn lasts minutes at most.
const MaxLatencyMS = 24 * 60 * 60 * 1000

// TurnInterrupter is the optional part of a CallStore that streamed calls
// use when the caller talks over a reply that was already stored whole.
// Both stores implement it; a CallStore without it loses only that
// truncation.
type TurnInterrupter interface {
	// InterruptTurn records that the caller talked over the assistant's turn
	// number: its text becomes heard (what the caller heard before talking)
	// and it is marked Interrupted. Only the first interruption of a turn
	// changes it; a repeated one returns the turn as stored. ErrNotFound when
	// the call or its assistant turn does not exist; ErrGone when the call
	// was deleted; ErrInvalid for a number outside 0..MaxTurn or heard over
	// MaxTurnText.
	InterruptTurn(ctx context.Context, callSID string, number int, heard string) (Turn, error)
}

// CheckSequence refuses caller turn n when it cannot follow the stored
// conversation turns: it skips ahead of the next expected turn, or comes
// after the assistant ended the call. ErrConflict saying which.
func CheckSequence(turns []Turn, n int) error {
	last := 0
	for _, t := range turns {
		if t.Role != RoleAssistant {
			continue
		}
		if t.EndsCall && t.Number < n {
			return Errorf(ErrConflict, "the call already ended at turn %d", t.Number)
		}
		last = max(last, t.Number)
	}
	if n > last+1 {
		return Errorf(ErrConflict, "turn %d arrived before turn %d was answered", n, last+1)
	}
	return nil
}
