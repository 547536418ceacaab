package bedrock_test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
)

// testModel is the model the assistant under test asks for.
const testModel = "anthropic.claude-3-haiku-20240307-v1:0"

// testEnv is an assistant wired to a fake, with its metrics.
type testEnv struct {
	a   *bedrock.Assistant
	reg *prometheus.Registry
}

// mustAssistant builds the assistant on a client signed with the static
// test credentials and pointed at the fake.
func mustAssistant(t testing.TB, f *bedrocktest.Server, tune func(*assistant.ModelConfig)) testEnv {
	t.Helper()
	mc := assistant.DefaultModelConfig()
	mc.Prompt = "You answer calls for Rosa's Bakery on Main Street."
	if tune != nil {
		tune(&mc)
	}
	reg := prometheus.NewRegistry()
	m, err := assistant.NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	a, err := bedrock.NewWithClient(f.Client(), bedrock.Config{ModelID: testModel, Temperature: 0.3, MaxTokens: 150},
		assistant.Deps{Config: mc, Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewWithClient: %v", err)
	}
	return testEnv{a: a, reg: reg}
}
