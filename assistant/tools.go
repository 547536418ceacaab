package assistant

import (
	"encoding/json"
	"strings"
	"time"

	"switchboard/storage"
)

// The end_call tool lets the model hang up through a structured call rather
// than a magic phrase in its text, which a caller could otherwise provoke.
const (
	EndCallTool        = "end_call"
	EndCallDescription = "End the phone call. Use it when the caller's request is complete, when the caller says goodbye, or when the caller asks to hang up. The farewell is said to the caller before hanging up."
)

// EndCallParameters is the JSON Schema of the end_call tool's arguments.
func EndCallParameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"farewell": map[string]any{
				"type":        "string",
				"description": "A short goodbye to say to the caller, in the caller's language.",
			},
		},
		"additionalProperties": false,
	}
}

// Farewell extracts the farewell argument of an end_call tool call. Invalid
// or missing arguments give "", so the configured goodbye is said: the model
// clearly meant to end the call.
func Farewell(args []byte) string {
	var a struct {
		Farewell string `json:"farewell"`
	}
	if json.Unmarshal(args, &a) != nil {
		return ""
	}
	return strings.TrimSpace(a.Farewell)
}

// SummarySchema is the JSON Schema of a post-call summary.
func SummarySchema() map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"summary":   str,
			"reason":    str,
			"outcome":   str,
			"follow_up": map[string]any{"type": "boolean"},
		},
		"required":             []string{"summary", "reason", "outcome", "follow_up"},
		"additionalProperties": false,
	}
}

// ParseSummary reads a model's summary: a JSON object, possibly wrapped in a
// code fence or surrounded by prose by servers without structured output.
// A missing object or an empty summary is a MalformedError.
func ParseSummary(text string) (storage.Summary, error) {
	start, end := strings.Index(text, "{"), strings.LastIndex(text, "}")
	if start < 0 || end < start {
		return storage.Summary{}, &MalformedError{What: "summary is not a JSON object"}
	}
	var s struct {
		Summary  *string `json:"summary"`
		Reason   string  `json:"reason"`
		Outcome  string  `json:"outcome"`
		FollowUp any     `json:"follow_up"`
	}
	if err := json.Unmarshal([]byte(text[start:end+1]), &s); err != nil {
		return storage.Summary{}, &MalformedError{What: "summary is not valid JSON", Err: err}
	}
	if s.Summary == nil || strings.TrimSpace(*s.Summary) == "" {
		return storage.Summary{}, &MalformedError{What: "summary has no text"}
	}
	follow, ok := boolish(s.FollowUp)
	if !ok {
		return storage.Summary{}, &MalformedError{What: "summary follow_up is not a boolean"}
	}
	return storage.Summary{
		Text:      strings.TrimSpace(*s.Summary),
		Reason:    strings.TrimSpace(s.Reason),
		Outcome:   strings.TrimSpace(s.Outcome),
		FollowUp:  follow,
		CreatedAt: time.Now().UTC(),
	}, nil
}

// boolish accepts the spellings of a boolean that models without schema
// enforcement produce ("yes", "true").
func boolish(v any) (bool, bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes":
			return true, true
		case "false", "no", "":
			return false, true
		}
	}
	return false, false
}
