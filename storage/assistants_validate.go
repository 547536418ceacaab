package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of an assistant's settings. Every turn sends the prompt to the
// model, so a large one costs latency and tokens on every reply.
const (
	MaxAssistantName    = 100
	MaxAssistantPrompt  = 32 << 10
	MaxAssistantSpeech  = 1000 // greeting and goodbye, in bytes
	MaxModelName        = 200
	MaxAnalysisSchema   = 16 << 10
	MinReplyChars       = 40
	MaxReplyChars       = 2000
	MinModelMaxTokens   = 16
	MaxModelMaxTokens   = 4096
	MaxAssistantSilence = 10
)

var (
	languageShape = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$`)
	voiceShape    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// Model names: OpenAI's ("gpt-4o-mini"), Bedrock model IDs
	// ("anthropic.claude-3-haiku-20240307-v1:0") and ARNs of inference
	// profiles.
	modelShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// Check returns the settings' field errors: every rule every field breaks,
// or nil. It checks the shape of each field; whether Twilio recognises
// speech in the language and the voice speaks it, and whether the analysis
// schema is a valid JSON Schema, the API checks on top.
func (s AssistantSettings) Check() []FieldError {
	var fe []FieldError
	bad := func(field, format string, args ...any) {
		fe = append(fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	text := func(field, v string, max int) {
		switch {
		case strings.TrimSpace(v) == "":
			bad(field, "must not be empty")
		case len(v) > max:
			bad(field, "must be at most %d bytes", max)
		case !utf8.ValidString(v):
			bad(field, "must be valid UTF-8")
		}
	}
	text("name", s.Name, MaxAssistantName)
	if strings.IndexFunc(s.Name, unicode.IsControl) >= 0 {
		bad("name", "must not contain control characters")
	}
	text("prompt", s.Prompt, MaxAssistantPrompt)
	text("greeting", s.Greeting, MaxAssistantSpeech)
	text("goodbye", s.Goodbye, MaxAssistantSpeech)
	if !languageShape.MatchString(s.Language) {
		bad("language", "must be a BCP 47 language tag such as en-US")
	}
	if !voiceShape.MatchString(s.Voice) {
		bad("voice", "must be a Twilio voice name such as Polly.Joanna-Neural")
	}
	switch s.CallMode {
	case CallModeGather, CallModeRelay:
	default:
		bad("call_mode", "must be %q or %q", CallModeGather, CallModeRelay)
	}
	if m := s.Model.Name; m != "" && (len(m) > MaxModelName || !modelShape.MatchString(m)) {
		bad("model.name", "must be a model name of at most %d characters (letters, digits and . _ : / @ + -)", MaxModelName)
	}
	if t := s.Model.Temperature; t != nil && (*t < 0 || *t > 2) {
		bad("model.temperature", "must be from 0 to 2")
	}
	if n := s.Model.MaxTokens; n != 0 && (n < MinModelMaxTokens || n > MaxModelMaxTokens) {
		bad("model.max_tokens", "must be from %d to %d (or 0 for the deployment's)", MinModelMaxTokens, MaxModelMaxTokens)
	}
	if n := s.Speech.MaxReplyChars; n < MinReplyChars || n > MaxReplyChars {
		bad("speech.max_reply_chars", "must be from %d to %d", MinReplyChars, MaxReplyChars)
	}
	if n := s.Speech.MaxSilence; n < 1 || n > MaxAssistantSilence {
		bad("speech.max_silence", "must be from 1 to %d", MaxAssistantSilence)
	}
	if HasSchema(s.AnalysisSchema) {
		switch {
		case len(s.AnalysisSchema) > MaxAnalysisSchema:
			bad("analysis_schema", "must be at most %d bytes", MaxAnalysisSchema)
		case !jsonObject(s.AnalysisSchema):
			bad("analysis_schema", "must be a JSON object (a JSON Schema) or null")
		}
	}
	return fe
}

// HasSchema reports whether raw holds an analysis schema (not absent, not null).
func HasSchema(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

func jsonObject(raw json.RawMessage) bool { return IsJSONObject(raw) }

// IsJSONObject reports whether raw is one JSON object.
func IsJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// CheckAssistant returns the ErrInvalid error of settings that break a rule
// (see AssistantSettings.Check), naming every bad field.
func CheckAssistant(s AssistantSettings) error {
	return InvalidFields("assistant", s.Check())
}

// ValidVoice reports whether v has the shape of a Twilio voice name.
func ValidVoice(v string) bool { return voiceShape.MatchString(v) }

// ValidNumber reports whether n is an E.164 phone number.
func ValidNumber(n string) bool { return e164.MatchString(n) }

// Check validates a number to be added: E.164, and an assistant ID that
// can be stored (not the default, which needs no number). ErrInvalid
// naming each bad field.
func (n Number) Check() error {
	var fe []FieldError
	if !ValidNumber(n.Number) {
		fe = append(fe, FieldError{Field: "number", Message: "must be an E.164 phone number such as +14155550100"})
	}
	switch {
	case n.AssistantID == DefaultAssistantID:
		fe = append(fe, FieldError{Field: "assistant_id", Message: "the default assistant answers every number without one; delete the number instead"})
	case !ValidAssistantID(n.AssistantID):
		fe = append(fe, FieldError{Field: "assistant_id", Message: "must be an assistant ID (as_ and 24 hex digits)"})
	}
	return InvalidFields("number", fe)
}

// AnalysisMatch selects calls whose analysis has Value at Path: an exact
// match of a scalar (string, number, boolean or null).
type AnalysisMatch struct {
	// Path is the field's name, or the names leading to a nested field.
	Path  []string
	Value any
}

// analysisField is the shape of one analysis filter path segment.
var analysisField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)

// MaxAnalysisMatches bounds the analysis filters of one listing.
const MaxAnalysisMatches = 8

// ParseAnalysisMatch reads a filter "analysis.<field>[.<field>…]=<value>":
// the value is JSON when it parses as a JSON scalar (true, 42, null,
// "quoted"), otherwise the plain string. ErrInvalid for a malformed path or
// a value that is a JSON object or array.
func ParseAnalysisMatch(key, value string) (AnalysisMatch, error) {
	path, ok := strings.CutPrefix(key, "analysis.")
	if !ok {
		return AnalysisMatch{}, Errorf(ErrInvalid, "analysis filters are named analysis.<field>")
	}
	parts := strings.Split(path, ".")
	if len(parts) > 4 {
		return AnalysisMatch{}, Errorf(ErrInvalid, "analysis filter %s is nested more than 4 deep", truncate(key, 80))
	}
	for _, p := range parts {
		if !analysisField.MatchString(p) {
			return AnalysisMatch{}, Errorf(ErrInvalid, "analysis filter %s: field names are letters, digits, _ and -", truncate(key, 80))
		}
	}
	if len(value) > 1024 {
		return AnalysisMatch{}, Errorf(ErrInvalid, "analysis filter %s: the value is longer than 1024 bytes", truncate(key, 80))
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		v = value
	}
	switch v.(type) {
	case map[string]any, []any:
		return AnalysisMatch{}, Errorf(ErrInvalid, "analysis filter %s matches a single value, not an object or a list", truncate(key, 80))
	}
	return AnalysisMatch{Path: parts, Value: v}, nil
}

// Containment returns the JSON object that holds m's value at m's path,
// the argument of PostgreSQL's jsonb @> for the match.
func (m AnalysisMatch) Containment() map[string]any {
	var v any = m.Value
	for i := len(m.Path) - 1; i >= 0; i-- {
		v = map[string]any{m.Path[i]: v}
	}
	return v.(map[string]any)
}

// Matches reports whether the analysis fields hold m's value at m's path,
// as jsonb containment of a scalar decides (numbers compare by value).
func (m AnalysisMatch) Matches(fields json.RawMessage) bool {
	var v any
	d := json.NewDecoder(bytes.NewReader(fields))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return false
	}
	for _, p := range m.Path {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = obj[p]; !ok {
			return false
		}
	}
	return scalarEqual(v, m.Value)
}

func scalarEqual(got, want any) bool {
	switch w := want.(type) {
	case float64:
		n, ok := got.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == w
	case nil:
		return got == nil
	default:
		return got == want
	}
}
