package openai_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"switchboard/assistant"
	"switchboard/assistant/openai/openaitest"
	"switchboard/storage"
)

// withAssistant is the conversation of a call run by assistant a.
func withAssistant(a storage.Assistant, turns ...storage.Turn) assistant.Conversation {
	c := conversation(turns...)
	c.Assistant = &a
	return c
}

const strictSchema = `{"type":"object","properties":{"reason":{"type":"string"},"booked":{"type":"boolean"}},"required":["reason","booked"],"additionalProperties":false}`

func TestAnalyze(t *testing.T) {
	a := storage.Assistant{AssistantSettings: storage.AssistantSettings{Prompt: "You answer for Smile Dental.",
		AnalysisSchema: json.RawMessage(strictSchema), Model: storage.ModelSettings{Name: "analysis-model"}}}
	call := withAssistant(a, caller(1, "Can I book a cleaning on Friday?"))

	t.Run("StructuredOutputWithTheAssistantsSchema", func(t *testing.T) {
		f := openaitest.New(t, openaitest.Always(http.StatusOK, openaitest.Completion(`{"reason":"cleaning","booked":true}`)))
		env := mustAssistant(t, f.BaseURL(), nil)
		got, err := env.a.Analyze(turnCtx(t), call)
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		if string(got) != `{"reason":"cleaning","booked":true}` {
			t.Errorf("analysis = %s", got)
		}
		r := f.Requests()[0].Body
		rf := r.ResponseFormat
		if rf == nil || rf.Type != "json_schema" || rf.JSONSchema.Name != "call_analysis" || !rf.JSONSchema.Strict {
			t.Fatalf("response_format = %+v, want the strict json_schema call_analysis", rf)
		}
		// The schema goes as its author wrote it, key order included.
		var compact bytes.Buffer
		_ = json.Compact(&compact, rf.JSONSchema.Schema)
		if compact.String() != strictSchema {
			t.Errorf("schema sent = %s, want %s", compact.String(), strictSchema)
		}
		if r.Model != "analysis-model" || !strings.Contains(r.Messages[0].Content, "You answer for Smile Dental.") ||
			!strings.Contains(r.Messages[1].Content, "Caller: Can I book a cleaning on Friday?") || len(r.Tools) != 0 {
			t.Errorf("request = model %q, messages %+v, tools %+v", r.Model, r.Messages, r.Tools)
		}
	})
	t.Run("NonStrictSchemaSentAsGuidance", func(t *testing.T) {
		loose := a
		loose.AnalysisSchema = json.RawMessage(`{"type":"object","properties":{"reason":{"type":"string"}}}`)
		f := openaitest.New(t, openaitest.Always(http.StatusOK, openaitest.Completion(`{"reason":"cleaning"}`)))
		env := mustAssistant(t, f.BaseURL(), nil)
		if _, err := env.a.Analyze(turnCtx(t), withAssistant(loose, caller(1, "Hi"))); err != nil {
			t.Fatal(err)
		}
		if rf := f.Requests()[0].Body.ResponseFormat; rf == nil || rf.JSONSchema.Strict {
			t.Errorf("a schema OpenAI's strict mode refuses was sent strict: %+v", rf)
		}
	})
	t.Run("FencedAnswer", func(t *testing.T) {
		f := openaitest.New(t, openaitest.Always(http.StatusOK, openaitest.Completion("```json\n{\"reason\":\"cleaning\",\"booked\":false}\n```")))
		env := mustAssistant(t, f.BaseURL(), nil)
		got, err := env.a.Analyze(turnCtx(t), call)
		if err != nil || string(got) != `{"reason":"cleaning","booked":false}` {
			t.Errorf("analysis = %s, %v", got, err)
		}
	})
	t.Run("InvalidAnswerErrUnavailable", func(t *testing.T) {
		// An answer the schema refuses fails the attempt; the worker's
		// durable retries ask again later.
		for _, answer := range []string{`{"reason":1,"booked":true}`, `{"reason":"x"}`, `not JSON`} {
			f := openaitest.New(t, openaitest.Always(http.StatusOK, openaitest.Completion(answer)))
			env := mustAssistant(t, f.BaseURL(), nil)
			_, err := env.a.Analyze(turnCtx(t), call)
			modelError(t, err, assistant.OutcomeMalformed)
		}
	})
	t.Run("NoSchemaErrInvalid", func(t *testing.T) {
		f := openaitest.New(t, openaitest.Always(http.StatusOK, openaitest.Completion(`{}`)))
		env := mustAssistant(t, f.BaseURL(), nil)
		_, err := env.a.Analyze(turnCtx(t), withAssistant(storage.Assistant{}, caller(1, "Hi")))
		if storage.KindOf(err) != storage.ErrInvalid || len(f.Requests()) != 0 {
			t.Errorf("Analyze without a schema = %v after %d requests", err, len(f.Requests()))
		}
	})
}

// TestReplyWithTheCallsAssistant: the assistant version a call runs with
// chooses the prompt, model, temperature, reply bound and goodbye.
func TestReplyWithTheCallsAssistant(t *testing.T) {
	temp := 1.1
	a := storage.Assistant{AssistantSettings: storage.AssistantSettings{Prompt: "You answer for Joe's Garage.", Goodbye: "Bye from Joe.",
		Model: storage.ModelSettings{Name: "garage-model", Temperature: &temp, MaxTokens: 60}, Speech: storage.SpeechLimits{MaxReplyChars: 40}}}
	long := "We are open Monday to Friday from eight. On Saturdays we open at nine until noon."
	f := openaitest.New(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			openaitest.WriteJSON(w, http.StatusOK, openaitest.Completion(long))
			return
		}
		openaitest.WriteJSON(w, http.StatusOK, openaitest.ToolCall(assistant.EndCallTool, `{}`))
	})
	env := mustAssistant(t, f.BaseURL(), nil)
	r, err := env.a.Reply(turnCtx(t), withAssistant(a, caller(1, "When are you open?")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "We are open Monday to Friday from eight." {
		t.Errorf("reply = %q, want it cut to the assistant's 40 characters", r.Text)
	}
	r, err = env.a.Reply(turnCtx(t), withAssistant(a, caller(1, "Bye")))
	if err != nil || !r.EndCall || r.Text != "Bye from Joe." {
		t.Errorf("end of call = %+v, %v; want the assistant's goodbye", r, err)
	}
	req := f.Requests()[0].Body
	if req.Model != "garage-model" || req.Temperature != 1.1 || req.MaxTokens != 60 || !strings.HasPrefix(req.Messages[0].Content, "You answer for Joe's Garage.") {
		t.Errorf("request model %q temperature %g max_tokens %d system %q", req.Model, req.Temperature, req.MaxTokens, req.Messages[0].Content)
	}
	// Without an assistant of its own, the call gets the deployment's.
	if _, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Hello?"))); err != nil {
		t.Fatal(err)
	}
	def := f.Requests()[2].Body
	if def.Model != "test-model" || def.Temperature != 0.3 || def.MaxTokens != 150 || !strings.Contains(def.Messages[0].Content, "Rosa's Bakery") {
		t.Errorf("default request model %q temperature %g max_tokens %d system %q", def.Model, def.Temperature, def.MaxTokens, def.Messages[0].Content)
	}
}
