package bedrock_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"switchboard/assistant"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/storage"
)

func TestAnalyze(t *testing.T) {
	temp := 1.6
	a := storage.Assistant{AssistantSettings: storage.AssistantSettings{Prompt: "You answer for Smile Dental.",
		Model:          storage.ModelSettings{Name: "anthropic.claude-3-5-sonnet-20240620-v1:0", Temperature: &temp},
		AnalysisSchema: json.RawMessage(`{"type":"object","properties":{"reason":{"type":"string"},"booked":{"type":"boolean"}},"required":["reason","booked"]}`)}}
	call := conversation(caller(1, "Can I book a cleaning on Friday?"))
	call.Assistant = &a

	t.Run("ToolWithTheSchema", func(t *testing.T) {
		f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.ToolUseOutput("record_analysis", map[string]any{"reason": "cleaning", "booked": true})))
		env := mustAssistant(t, f, nil)
		got, err := env.a.Analyze(turnCtx(t), call)
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		var fields map[string]any
		if err := json.Unmarshal(got, &fields); err != nil || fields["reason"] != "cleaning" || fields["booked"] != true {
			t.Errorf("analysis = %s", got)
		}
		r := f.Requests()[0]
		req := r.Body
		if !req.Analysis() || req.ToolConfig.ToolChoice.Tool.Name != "record_analysis" || len(req.ToolConfig.Tools) != 1 {
			t.Fatalf("tool config = %+v, want the record_analysis tool, chosen", req.ToolConfig)
		}
		schema := req.ToolConfig.Tools[0].ToolSpec.InputSchema.JSON
		if props, _ := schema["properties"].(map[string]any); props["booked"] == nil || schema["type"] != "object" {
			t.Errorf("tool input schema = %v, want the assistant's", schema)
		}
		if r.ModelID != "anthropic.claude-3-5-sonnet-20240620-v1:0" || req.InferenceConfig.Temperature != 1 ||
			!strings.Contains(req.System[0].Text, "You answer for Smile Dental.") {
			t.Errorf("model %q, temperature %g (want the assistant's, clamped to 1), system %q", r.ModelID, req.InferenceConfig.Temperature, req.System[0].Text)
		}
	})
	t.Run("InputAgainstTheSchema", func(t *testing.T) {
		f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.ToolUseOutput("record_analysis", map[string]any{"reason": "cleaning"})))
		env := mustAssistant(t, f, nil)
		_, err := env.a.Analyze(turnCtx(t), call)
		modelError(t, err, assistant.OutcomeMalformed)
	})
	t.Run("TextInsteadOfTheTool", func(t *testing.T) {
		f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput(`{"reason":"cleaning","booked":false}`)))
		env := mustAssistant(t, f, nil)
		got, err := env.a.Analyze(turnCtx(t), call)
		if err != nil || !strings.Contains(string(got), `"booked":false`) {
			t.Errorf("a model answering in text: %s, %v (the JSON is read and validated either way)", got, err)
		}
	})
}
