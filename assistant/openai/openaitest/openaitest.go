// Package openaitest is an in-process server speaking the OpenAI
// chat-completions HTTP API, so tests exercise the real SDK over real HTTP
// (connection reuse, status codes, malformed bodies, slow answers) without a
// network or an account. Each test decides every answer.
package openaitest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ChatRequest is the part of a chat-completions request tests check.
type ChatRequest struct {
	Model       string  `json:"model"`
	Stream      bool    `json:"stream"`
	Temperature float64 `json:"temperature"`
	MaxTokens   int     `json:"max_tokens"`
	Messages    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
		// ToolCalls are an assistant message's calls; ToolCallID is the
		// call a tool message answers.
		ToolCalls []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
		ToolCallID string `json:"tool_call_id"`
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
			Name   string          `json:"name"`
			Strict bool            `json:"strict"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// Summary reports whether the request asks for a structured summary or
// analysis rather than a spoken reply: only those ask for a response format.
func (c ChatRequest) Summary() bool { return c.ResponseFormat != nil }

// Analysis reports whether the request asks for a call's analysis (with
// the assistant's schema), not its summary.
func (c ChatRequest) Analysis() bool {
	return c.ResponseFormat != nil && c.ResponseFormat.JSONSchema.Name == "call_analysis"
}

// Request is one request as the server saw it.
type Request struct {
	At   time.Time
	Auth string
	Body ChatRequest
	// RawErr is the error decoding the body, nil when it was valid JSON.
	RawErr error
}

// Responder decides the answer to request n (0-based, in arrival order). It
// runs in the server's handler goroutine and may block; a blocking responder
// should also watch r.Context() so the server can close.
type Responder func(n int, w http.ResponseWriter, r *http.Request)

// Server is a running fake. Create it with New.
type Server struct {
	srv      *httptest.Server
	newConns atomic.Int64
	respond  Responder

	mu   sync.Mutex
	reqs []Request
}

// New starts a fake answering with respond; it is closed when the test ends.
func New(t testing.TB, respond Responder) *Server {
	t.Helper()
	s := &Server{respond: respond}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.newConns.Add(1)
		}
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	b, _ := io.ReadAll(r.Body)
	rec := Request{At: time.Now(), Auth: r.Header.Get("Authorization")}
	rec.RawErr = json.Unmarshal(b, &rec.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	s.respond(n, w, r)
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Request returns request n; responders use it to answer by content.
func (s *Server) Request(n int) Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[n]
}

// BaseURL is the value for OPENAI_BASE_URL.
func (s *Server) BaseURL() string { return s.srv.URL + "/v1" }

// NewConns counts the TCP connections clients opened, to show reuse.
func (s *Server) NewConns() int64 { return s.newConns.Load() }

// WriteJSON answers with status and a JSON body.
func WriteJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// Completion is a chat-completions answer with text content.
func Completion(text string) string {
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

// ToolCall is a chat-completions answer calling one function.
func ToolCall(name, args string) string {
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

// Always answers every request the same way.
func Always(status int, body string) Responder {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { WriteJSON(w, status, body) }
}
