package openai_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/assistant/openai"
	"switchboard/storage"
)

// testEnv is an assistant wired to a fake, with its metrics and logs.
type testEnv struct {
	a    *openai.Assistant
	reg  *prometheus.Registry
	logs *syncBuffer
}

// syncBuffer is a log sink safe for the handler and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustAssistant(t testing.TB, baseURL string, tune func(*assistant.ModelConfig)) testEnv {
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
	logs := &syncBuffer{}
	a, err := openai.New(openai.Config{
		BaseURL:          baseURL,
		APIKey:           "test-key",
		Model:            "test-model",
		Temperature:      0.3,
		MaxTokens:        150,
		StructuredOutput: true,
	}, assistant.Deps{Config: mc, Metrics: m, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatalf("openai.New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return testEnv{a: a, reg: reg, logs: logs}
}

// counter returns the sum of a metric family's samples whose labels include want.
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// cmpIgnoreCreated compares summaries without their creation time.
var cmpIgnoreCreated = cmpopts.IgnoreFields(storage.Summary{}, "CreatedAt")
