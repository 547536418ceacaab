package storage

import "time"

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
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
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
