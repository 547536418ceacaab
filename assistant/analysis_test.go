package assistant_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"switchboard/assistant"
	"switchboard/storage"
)

func TestCompileSchema(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, err := assistant.CompileSchema(json.RawMessage(`{"type": "object", "properties": {"reason": {"type": "string"}, "n": {"type": "integer", "minimum": 0}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate([]byte(`{"reason": "hours", "n": 2}`)); err != nil {
			t.Errorf("a valid analysis: %v", err)
		}
		for _, bad := range []string{`{"reason": 7}`, `{"n": -1}`, `[]`, `"x"`, `{`} {
			if err := s.Validate([]byte(bad)); err == nil {
				t.Errorf("Validate(%s) accepted it", bad)
			}
		}
	})
	for name, raw := range map[string]string{
		"NotJSON":        `{"type": `,
		"NotAnObject":    `["type", "object"]`,
		"NotAnObjectTop": `{"type": "string"}`,
		"NoType":         `{"properties": {"a": {"type": "string"}}}`,
		"BadKeyword":     `{"type": "object", "properties": {"a": {"type": "colour"}}}`,
		"BadPattern":     `{"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}`,
		"FileRef":        `{"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}`,
		"RemoteRef":      `{"type": "object", "$ref": "http://169.254.169.254/latest/meta-data/"}`,
		"RemoteSchema":   `{"$schema": "http://example.com/my-meta", "type": "object"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := assistant.CompileSchema(json.RawMessage(raw))
			if !errors.Is(err, storage.ErrInvalid) || storage.Message(err) == "" {
				t.Fatalf("CompileSchema(%s) = %v, want ErrInvalid with a message", raw, err)
			}
		})
	}
	t.Run("LocalRefs", func(t *testing.T) {
		s, err := assistant.CompileSchema(json.RawMessage(`{"type": "object", "$defs": {"yn": {"type": "boolean"}}, "properties": {"booked": {"$ref": "#/$defs/yn"}}}`))
		if err != nil {
			t.Fatalf("a schema with local $defs: %v", err)
		}
		if s.Validate([]byte(`{"booked": "yes"}`)) == nil {
			t.Error("the local $ref was not applied")
		}
	})
}

func TestSchemaStrict(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}`:                                          true,
		`{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}`:                                                                         false,
		`{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"], "additionalProperties": false}`:                 false,
		`{"type": "object", "properties": {"o": {"type": "object", "properties": {"x": {"type": "number"}}}}, "required": ["o"], "additionalProperties": false}`: false,
	} {
		s, err := assistant.CompileSchema(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if s.Strict() != want {
			t.Errorf("Strict(%s) = %t, want %t", raw, !want, want)
		}
	}
}

func TestParseAnalysis(t *testing.T) {
	s, err := assistant.CompileSchema(json.RawMessage(`{"type": "object", "properties": {"booked": {"type": "boolean"}}, "required": ["booked"]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := assistant.ParseAnalysis("Here you are:\n```json\n{\"booked\": true}\n```", s)
	if err != nil || string(got) != `{"booked":true}` {
		t.Errorf("fenced analysis = %s, %v", got, err)
	}
	for _, text := range []string{"no JSON here", `{"booked": "yes"}`, `{}`, `{"booked": true`} {
		var me *assistant.MalformedError
		if _, err := assistant.ParseAnalysis(text, s); !errors.As(err, &me) {
			t.Errorf("ParseAnalysis(%q) = %v, want a MalformedError", text, err)
		}
	}
}

func TestScriptedAnalyze(t *testing.T) {
	a := &storage.Assistant{AssistantSettings: storage.AssistantSettings{AnalysisSchema: json.RawMessage(`{
		"type": "object",
		"properties": {
			"reason": {"type": "string"},
			"booked": {"type": "boolean"},
			"cancelled": {"type": "boolean"},
			"callback_number": {"type": ["string", "null"]},
			"department": {"enum": ["sales", "support", "billing"]},
			"turns": {"type": "integer", "maximum": 1},
			"notes": {"type": "string", "maxLength": 10}
		},
		"required": ["reason", "booked", "cancelled", "callback_number", "department", "turns", "notes"],
		"additionalProperties": false}`)}}
	c := assistant.Conversation{Assistant: a, Turns: []storage.Turn{
		{Number: 0, Role: storage.RoleAssistant, Text: "Hello."},
		{Number: 1, Role: storage.RoleCaller, Text: "I want to book an appointment with support"},
		{Number: 1, Role: storage.RoleAssistant, Text: "Sure."},
		{Number: 2, Role: storage.RoleCaller, Text: "Call me back on 415 555 0123"},
	}}
	got, err := assistant.NewScripted().Analyze(t.Context(), c)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(got, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"reason": "an appointment", "booked": true, "cancelled": false, "callback_number": "415 555 0123",
		"department": "support", "turns": 1.0, "notes": "I want to "}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%s = %#v, want %#v (all: %s)", k, fields[k], v, got)
		}
	}
	_, err = assistant.NewScripted().Analyze(t.Context(), assistant.Conversation{Assistant: &storage.Assistant{}})
	if !errors.Is(err, storage.ErrInvalid) || !strings.Contains(err.Error(), "no analysis schema") {
		t.Errorf("Analyze without a schema = %v, want ErrInvalid", err)
	}
}
