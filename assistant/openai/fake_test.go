package openai_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/assistant/openai"
	"switchboard/storage"
)

// chatRequest is the part of a chat-completions request the fake checks.
type chatRequest struct {
	Model       string  `json:"model"`
	Temperature float64 `json:"temperature"`
	MaxTokens   int     `json:"max_tokens"`
	Messages    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name string `json:"name"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// received is one request as the fake saw it.
type received struct {
	at     time.Time
	auth   string
	body   chatRequest
	rawErr error
}

// fakeOpenAI speaks the chat-completions HTTP API. respond decides each
// answer from the request's index (0-based) and may block; it runs in the
// server's handler goroutine.
type fakeOpenAI struct {
	srv      *httptest.Server
	newConns atomic.Int64
	respond  func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []received
}

func newFake(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{respond: respond}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.newConns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	b, _ := io.ReadAll(r.Body)
	rec := received{at: time.Now(), auth: r.Header.Get("Authorization")}
	rec.rawErr = json.Unmarshal(b, &rec.body)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()
	f.respond(n, w, r)
}

func (f *fakeOpenAI) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

func (f *fakeOpenAI) baseURL() string { return f.srv.URL + "/v1" }

// writeJSON answers with status and a JSON body.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// completion is a chat-completions answer with text content.
func completion(text string) string {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text},
		}},
		"usage": map[string]any{"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
	})
	return string(b)
}

// toolCall is a chat-completions answer calling one function.
func toolCall(name, args string) string {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "test-model",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "tool_calls",
			"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"id": "call_1", "type": "function",
				"function": map[string]any{"name": name, "arguments": args},
			}}},
		}},
		"usage": map[string]any{"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
	})
	return string(b)
}

// always answers every request the same way.
func always(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, status, body) }
}

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
