package storage

import (
	"time"
)

// CallStatus is a Twilio call status.
type CallStatus string

// The call statuses Twilio reports.
const (
	StatusQueued     CallStatus = "queued"
	StatusInitiated  CallStatus = "initiated"
	StatusRinging    CallStatus = "ringing"
	StatusInProgress CallStatus = "in-progress"
	StatusCompleted  CallStatus = "completed"
	StatusBusy       CallStatus = "busy"
	StatusFailed     CallStatus = "failed"
	StatusNoAnswer   CallStatus = "no-answer"
	StatusCanceled   CallStatus = "canceled"
)

// rank orders statuses: a call's status only ever moves to a higher rank.
// All terminal statuses share the top rank, so the first terminal status wins.
// Twilio reports initiated (with StatusCallbackEvent=initiated) when it
// starts dialling an outbound leg, after queued and before ringing.
var rank = map[CallStatus]int{
	StatusQueued:     1,
	StatusInitiated:  2,
	StatusRinging:    3,
	StatusInProgress: 4,
	StatusCompleted:  5,
	StatusBusy:       5,
	StatusFailed:     5,
	StatusNoAnswer:   5,
	StatusCanceled:   5,
}

// ParseCallStatus returns the status named s, or an ErrInvalid error.
func ParseCallStatus(s string) (CallStatus, error) {
	st := CallStatus(s)
	if _, ok := rank[st]; !ok {
		return "", Errorf(ErrInvalid, "unknown call status %q", truncate(s, 40))
	}
	return st, nil
}

// Valid reports whether s is a known status.
func (s CallStatus) Valid() bool { _, ok := rank[s]; return ok }

// Terminal reports whether the call has ended with status s.
func (s CallStatus) Terminal() bool { return rank[s] == rank[StatusCompleted] }

// Rank is the status's position in a call's life; a call never moves to a
// lower rank, and never leaves the top (terminal) rank.
func (s CallStatus) Rank() int { return rank[s] }

// Advances reports whether a call in status cur should move to next: only to
// a strictly higher rank, so duplicates, late and out-of-order callbacks and a
// second terminal status change nothing.
func Advances(cur, next CallStatus) bool { return next.Rank() > cur.Rank() }

// Call is one phone call and everything recorded about it.
type Call struct {
	SID        string     `json:"sid"`
	AccountSID string     `json:"account_sid"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	Direction  string     `json:"direction"`
	Status     CallStatus `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// EndedAt is when the call reached a terminal status.
	EndedAt *time.Time `json:"ended_at"`
	// Duration is the call's length in seconds as Twilio reported it.
	Duration int `json:"duration"`
	// Assistant is the assistant version the call ran with: its To
	// number's assistant when the call arrived, else the default.
	Assistant AssistantRef `json:"assistant"`
	// Analysis is what the model filled in from the assistant's analysis
	// schema after the call; nil until then, or without a schema.
	Analysis *Analysis `json:"analysis"`

	// The parts below are filled by GetCall, not by ListCalls.
	Timeline   []StatusEvent `json:"timeline"`
	Turns      []Turn        `json:"turns"`
	Summary    *Summary      `json:"summary"`
	Recordings []Recording   `json:"recordings"`
	// Transfers are the transfers the assistant requested, in turn order
	// (each is also on its turn), with the target's call leg and outcome.
	Transfers []Transfer `json:"transfers"`
}

// NewCall is what the incoming-call webhook knows about a call.
type NewCall struct {
	SID        string
	AccountSID string
	From       string
	To         string
	Direction  string
	Status     CallStatus // usually ringing; empty means ringing
	At         time.Time
}

// StatusEvent is one status Twilio reported, in the call's timeline.
type StatusEvent struct {
	Status CallStatus `json:"status"`
	At     time.Time  `json:"at"`
	// Sequence is Twilio's SequenceNumber, or -1 when absent.
	Sequence int `json:"sequence"`
	// Duration is CallDuration in seconds (terminal statuses), 0 otherwise.
	Duration int `json:"-"`
}

// CallFilter selects calls for ListCalls. Zero fields do not filter.
type CallFilter struct {
	Status CallStatus
	From   string
	To     string
	Since  time.Time // created at or after
	Until  time.Time // created before
	// Number matches calls from or to a number: a full E.164 number
	// ("+14155550100") matches exactly, 4 to 15 digits match the end of
	// the number ("0100"). NormalizeNumber turns what a person types into
	// this form.
	Number string
	// Active keeps only calls that have not ended (no terminal status).
	Active bool
	// Assistant selects the calls of one assistant (any version).
	Assistant string
	// Analysis selects calls whose analysis matches every one of these.
	Analysis []AnalysisMatch
	// Cursor continues a previous page (CallPage.NextCursor); "" starts at the newest.
	Cursor string
	// Limit is the page size; 0 means DefaultPageSize, and it is capped at MaxPageSize.
	Limit int
}

// Page sizes for ListCalls.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// CallPage is one page of calls, newest first.
type CallPage struct {
	Calls []Call `json:"calls"`
	// NextCursor continues the listing; "" when this is the last page.
	NextCursor string `json:"next_cursor"`
}

// Summary is the post-call summary.
type Summary struct {
	Text      string    `json:"text"`
	Reason    string    `json:"reason"`
	Outcome   string    `json:"outcome"`
	FollowUp  bool      `json:"follow_up"`
	CreatedAt time.Time `json:"created_at"`
}
