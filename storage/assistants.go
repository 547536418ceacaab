package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// DefaultAssistantID names the deployment's own assistant: the settings of
// its environment (ASSISTANT_PROMPT, ASSISTANT_GREETING, CALL_LANGUAGE, …).
// It answers every number that has no assistant of its own, is never
// stored, and has the single version 0.
const DefaultAssistantID = "default"

// CallMode says how a call's conversation runs.
type CallMode string

// The call modes.
const (
	// CallModeGather runs each turn as a <Gather> webhook.
	CallModeGather CallMode = "gather"
	// CallModeRelay streams the call over ConversationRelay.
	CallModeRelay CallMode = "relay"
)

// AssistantRef names one version of an assistant: what a call ran with.
type AssistantRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// DefaultRef is the default assistant's only version.
var DefaultRef = AssistantRef{ID: DefaultAssistantID, Version: 0}

// IsDefault reports whether r is the deployment's default assistant.
func (r AssistantRef) IsDefault() bool { return r.ID == DefaultAssistantID }

// Assistant is one version of an assistant. Versions never change once
// stored: an update stores the next version, so a call that recorded the
// version it ran with can always be read against the settings it had.
type Assistant struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	AssistantSettings
	// CreatedAt is when the assistant was created, UpdatedAt when this
	// version was.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Ref names this version.
func (a Assistant) Ref() AssistantRef { return AssistantRef{ID: a.ID, Version: a.Version} }

// AssistantSettings are what an assistant is: everything a client writes.
// Provider credentials are never part of them: they stay in the
// deployment's environment.
type AssistantSettings struct {
	Name string `json:"name"`
	// Prompt describes the business to the model (the system prompt).
	Prompt string `json:"prompt"`
	// Greeting is said when the call is answered, Goodbye when the model
	// ends the call without a farewell of its own.
	Greeting string `json:"greeting"`
	Goodbye  string `json:"goodbye"`
	// Language (BCP 47) is used for speech recognition and <Say>; Voice is
	// the Twilio <Say> voice.
	Language string        `json:"language"`
	Voice    string        `json:"voice"`
	CallMode CallMode      `json:"call_mode"`
	Model    ModelSettings `json:"model"`
	Speech   SpeechLimits  `json:"speech"`
	// AnalysisSchema is the JSON Schema (an object schema) that the model
	// fills after each call; null for no analysis.
	AnalysisSchema json.RawMessage `json:"analysis_schema"`
}

// ModelSettings choose the model within the deployment's provider. Zero
// values use the deployment's own settings (OPENAI_MODEL, BEDROCK_MODEL_ID,
// …), so an assistant keeps working when the deployment changes provider.
type ModelSettings struct {
	Name        string   `json:"name"`
	Temperature *float64 `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
}

// SpeechLimits bound what the caller hears and how long silence is borne.
type SpeechLimits struct {
	// MaxReplyChars bounds a spoken reply.
	MaxReplyChars int `json:"max_reply_chars"`
	// MaxSilence is how many times a silent caller is asked again before
	// the call ends.
	MaxSilence int `json:"max_silence"`
}

// Number routes a phone number's incoming calls to an assistant.
type Number struct {
	// Number is E.164: "+" and up to 15 digits.
	Number      string    `json:"number"`
	AssistantID string    `json:"assistant_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// Analysis is what the model filled in after a call from its assistant's
// analysis schema.
type Analysis struct {
	// Fields is a JSON object valid against the schema.
	Fields json.RawMessage `json:"fields"`
	// AssistantVersion is the version of the call's assistant whose schema
	// Fields follow: the call's own, or a later one after a re-analysis.
	AssistantVersion int       `json:"assistant_version"`
	CreatedAt        time.Time `json:"created_at"`
}

// AnalysisRun is the re-analysis of an assistant's past calls with the
// schema of one of its versions.
type AnalysisRun struct {
	ID          int64      `json:"id"`
	AssistantID string     `json:"assistant_id"`
	Version     int        `json:"version"`
	Since       *time.Time `json:"since"`
	// Total calls were selected; Done were analyzed, Failed gave up after
	// their retries, Pending are still to do.
	Total   int `json:"total"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
	// Status is RunRunning while calls are pending, RunCompleted after.
	Status    string    `json:"status"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
}

// Analysis run statuses.
const (
	RunRunning   = "running"
	RunCompleted = "completed"
)

// Assistants keeps assistants and every version of them. Implementations
// are safe for concurrent use; versions are numbered from 1, without gaps.
type Assistants interface {
	// CreateAssistant stores version 1 of a new assistant under a fresh ID.
	// ErrInvalid (with Fields) for settings that break a rule.
	CreateAssistant(ctx context.Context, s AssistantSettings) (Assistant, error)

	// GetAssistant returns the current version. ErrNotFound when absent or
	// deleted.
	GetAssistant(ctx context.Context, id string) (Assistant, error)

	// GetAssistantVersion returns one version, also of a deleted
	// assistant: past calls still name it. ErrNotFound when absent.
	GetAssistantVersion(ctx context.Context, id string, version int) (Assistant, error)

	// ListAssistants returns the current version of every assistant, oldest
	// first.
	ListAssistants(ctx context.Context) ([]Assistant, error)

	// UpdateAssistant stores s as the next version, provided the current
	// one is ifVersion. ErrNotFound when absent; ErrStale, storing nothing,
	// when the current version is another; ErrInvalid for bad settings.
	UpdateAssistant(ctx context.Context, id string, ifVersion int, s AssistantSettings) (Assistant, error)

	// DeleteAssistant deletes the assistant (its versions stay readable),
	// provided the current version is ifVersion. ErrNotFound when absent;
	// ErrStale when the version is another; ErrConflict while a number
	// routes to it.
	DeleteAssistant(ctx context.Context, id string, ifVersion int) error
}

// Numbers keeps which assistant answers each phone number. An incoming
// call is answered by the current version of its To number's assistant,
// resolved in the same statement that records the call (CallWriter), so a
// change is in effect for the next call on every instance.
type Numbers interface {
	// AddNumber routes n.Number to n.AssistantID. ErrInvalid for a number
	// that is not E.164; ErrNotFound when the assistant does not exist;
	// ErrConflict when the number is routed already.
	AddNumber(ctx context.Context, n Number) (Number, error)

	// GetNumber returns one number. ErrNotFound when absent.
	GetNumber(ctx context.Context, number string) (Number, error)

	// ListNumbers returns every number, in number order.
	ListNumbers(ctx context.Context) ([]Number, error)

	// DeleteNumber removes a number: its calls go to the default assistant.
	// ErrNotFound when absent.
	DeleteNumber(ctx context.Context, number string) error
}

// Analyses keeps the post-call analyses and the runs that redo them.
type Analyses interface {
	// StartAnalysisRun re-analyzes, with the schema of the assistant's
	// current version, every ended call of the assistant created at or
	// after since (all of them when since is zero): it stores the run and
	// enqueues one WorkAnalyzeCall per call in one transaction. A call
	// whose analysis is already queued joins the run. ErrNotFound for an
	// unknown assistant; ErrConflict when the current version has no
	// analysis schema or an earlier run of the assistant is still running.
	StartAnalysisRun(ctx context.Context, assistantID string, since time.Time) (AnalysisRun, error)

	// GetAnalysisRun returns a run and its progress. ErrNotFound when absent.
	GetAnalysisRun(ctx context.Context, id int64) (AnalysisRun, error)

	// CompleteAnalysis stores the call's analysis and completes w (a
	// WorkAnalyzeCall) in one transaction, counting it done in its run.
	// When the call joined a run after w was claimed, nothing is stored and
	// w is handed back to be done again for the run. ErrConflict when w's
	// lease is no longer held.
	CompleteAnalysis(ctx context.Context, w Work, a Analysis) error
}

// NewAssistantID returns a fresh assistant ID: "as_" and 24 hex digits.
func NewAssistantID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand documents this)
	return "as_" + hex.EncodeToString(b[:])
}

// ValidAssistantID reports whether id can name an assistant: the default,
// or an ID NewAssistantID makes.
func ValidAssistantID(id string) bool {
	if id == DefaultAssistantID {
		return true
	}
	if len(id) != 27 || id[:3] != "as_" {
		return false
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
