package storage

import (
	"context"
	"encoding/json"
	"time"
)

// What an assistant can do besides talk: transfer the caller to a person,
// and call the business's own HTTP tools. Both are configured per
// assistant version; what happened is stored on the assistant turn that
// did it.

// TransferMode is how a transfer hands the caller over.
type TransferMode string

// The transfer modes.
const (
	// TransferCold dials the target and connects the caller at once.
	TransferCold TransferMode = "cold"
	// TransferWarm lets the person who answers hear a summary of the call
	// first (<Number url> whisper), then connects the caller.
	TransferWarm TransferMode = "warm"
)

// TransferTarget is a person or team the assistant may transfer a caller
// to. The model sees Name and Description, never Number.
type TransferTarget struct {
	Name string `json:"name"`
	// Number is an E.164 phone number or a SIP URI (sip:…).
	Number      string       `json:"number"`
	Description string       `json:"description"`
	Mode        TransferMode `json:"mode"`
}

// Tool is one of the business's HTTP tools: the model calls it by Name
// with arguments valid against Parameters (a JSON Schema), and switchboard
// POSTs them to URL, signed with Secret, within Timeout.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	URL         string          `json:"url"`
	Timeout     Duration        `json:"timeout"`
	// Secret (whsec_…) signs the tool's requests (Standard Webhooks). It is
	// generated when the tool is first stored and shown once.
	Secret string `json:"secret,omitempty"`
}

// Duration is a time.Duration written as Go writes it ("2s", "1.5s").
type Duration time.Duration

// MarshalJSON writes d as a string such as "2s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a string such as "2s" or "500ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(ErrInvalid, "a duration is a string such as \"2s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return Errorf(ErrInvalid, "a duration is a string such as \"2s\"")
	}
	*d = Duration(v)
	return nil
}

// ToolCall is one call of a business tool the model made in a turn.
type ToolCall struct {
	// ID is the model's identifier of the call.
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	// Result is the tool's JSON answer; Error says why there is none
	// (invalid arguments, a timeout, an error status).
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS float64         `json:"duration_ms"`
}

// Transfer statuses. A transfer is dialing until the target answers
// (answered: a warm transfer's whisper was requested) and ends with the
// <Dial>'s DialCallStatus.
const (
	TransferDialing  = "dialing"
	TransferAnswered = "answered"
)

// Transfer is the hand-over of a call to a TransferTarget, requested by
// the assistant in the turn that stores it.
type Transfer struct {
	// Turn is the number of the assistant turn that requested it.
	Turn   int          `json:"turn"`
	Target string       `json:"target"`
	Number string       `json:"number"`
	Mode   TransferMode `json:"mode"`
	// Assistant is the assistant version that transferred: the webhooks
	// about the transfer speak with its voice and return to its call mode.
	Assistant AssistantRef `json:"assistant"`
	// Summary is what the person who answers a warm transfer hears,
	// prepared when the transfer was requested.
	Summary string `json:"summary"`
	// Status is dialing, answered, or the <Dial>'s outcome: completed,
	// answered, busy, no-answer, failed or canceled.
	Status string `json:"status"`
	// ChildCallSID is the new call leg to the target.
	ChildCallSID string     `json:"child_call_sid,omitempty"`
	RequestedAt  time.Time  `json:"requested_at"`
	AnsweredAt   *time.Time `json:"answered_at,omitempty"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	// TalkSeconds is DialCallDuration: how long the target was connected.
	TalkSeconds int `json:"talk_seconds"`
}

// Ended reports whether the transfer has its outcome.
func (t Transfer) Ended() bool { return t.EndedAt != nil }

// Connected reports whether the caller was put through.
func (t Transfer) Connected() bool {
	return t.Status == "completed" || t.Status == "answered" && t.Ended()
}

// TransferEnd is what the <Dial action> callback reports.
type TransferEnd struct {
	Status       string
	ChildCallSID string
	TalkSeconds  int
	At           time.Time
}

// TransferWriter records the progress of transfers from Twilio's
// webhooks about them. Neither method creates a call: the target's call
// leg is linked to the call that was transferred, never a call of its own.
// Both are idempotent: the first answer and the first outcome are kept.
type TransferWriter interface {
	// AnswerTransfer records that the target answered the transfer of
	// call's assistant turn n on call leg childSID, and returns the
	// transfer (with its summary). ErrNotFound when the call has no
	// transfer at turn n; ErrGone when the call was deleted; ErrInvalid
	// for malformed SIDs.
	AnswerTransfer(ctx context.Context, callSID string, n int, childSID string, at time.Time) (Transfer, error)

	// EndTransfer records the outcome of the transfer of call's assistant
	// turn n and returns the transfer as stored (an earlier outcome wins).
	// Errors as AnswerTransfer's.
	EndTransfer(ctx context.Context, callSID string, n int, end TransferEnd) (Transfer, error)
}

// Check validates an outcome.
func (e TransferEnd) Check() error {
	switch e.Status {
	case "completed", "answered", "busy", "no-answer", "failed", "canceled":
	default:
		return Errorf(ErrInvalid, "unknown dial status %q", truncate(e.Status, 40))
	}
	if e.ChildCallSID != "" && !ValidSID(e.ChildCallSID, "CA") {
		return Errorf(ErrInvalid, "the dialled call's SID must be CA and 32 hex digits")
	}
	if e.TalkSeconds < 0 || e.TalkSeconds > 7*24*3600 {
		return Errorf(ErrInvalid, "the dialled call's duration is out of range")
	}
	return nil
}

// ApplyAnswer is AnswerTransfer's change to t: the first answer is kept,
// and an ended transfer is not answered again.
func (t *Transfer) ApplyAnswer(childSID string, at time.Time) {
	if t.AnsweredAt != nil || t.Ended() {
		return
	}
	at = at.UTC()
	t.AnsweredAt, t.ChildCallSID, t.Status = &at, childSID, TransferAnswered
}

// ApplyEnd is EndTransfer's change to t: the first outcome is kept.
func (t *Transfer) ApplyEnd(e TransferEnd) {
	if t.Ended() {
		return
	}
	at := e.At.UTC()
	t.EndedAt, t.Status, t.TalkSeconds = &at, e.Status, e.TalkSeconds
	if t.ChildCallSID == "" {
		t.ChildCallSID = e.ChildCallSID
	}
}

// TransfersOf lists the transfers stored on turns, in turn order; nil
// when there are none.
func TransfersOf(turns []Turn) []Transfer {
	var out []Transfer
	for _, t := range turns {
		if t.Transfer != nil {
			out = append(out, *t.Transfer)
		}
	}
	return out
}
