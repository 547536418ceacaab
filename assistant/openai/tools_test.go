package openai_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/openai"
	"switchboard/assistant/openai/openaitest"
	"switchboard/runtime/outbound"
	"switchboard/storage"
)

// toolCalls is a chat-completions answer calling name n times at once.
func toolCalls(round, n int, name string) string {
	var calls []any
	for i := range n {
		calls = append(calls, map[string]any{"id": fmt.Sprintf("call_%d_%d", round, i), "type": "function",
			"function": map[string]any{"name": name, "arguments": `{"order":"A-1"}`}})
	}
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-3", "object": "chat.completion", "created": 1, "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls",
			"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": calls}}},
	})
	return string(b)
}

// withTools is an assistant on fake whose calls offer order_status,
// served by a business endpoint that counts its requests and answers
// after delay, and transfer to Sales.
func withTools(t *testing.T, delay time.Duration, respond openaitest.Responder) (*openai.Assistant, *openaitest.Server, *atomic.Int32, assistant.Conversation) {
	var hits atomic.Int32
	biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(delay)
		fmt.Fprint(w, `{"status":"shipped"}`)
	}))
	t.Cleanup(biz.Close)
	f := openaitest.New(t, respond)
	a, err := openai.New(openai.Config{BaseURL: f.BaseURL(), APIKey: "k", Model: "test-model", MaxTokens: 150},
		assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler),
			Tools: assistant.HTTPTools{Client: outbound.New(outbound.Config{AllowPrivate: true})}})
	if err != nil {
		t.Fatal(err)
	}
	conv := conversation(caller(1, "Where is order A-1?"))
	conv.Assistant = &storage.Assistant{AssistantSettings: storage.AssistantSettings{
		Tools: []storage.Tool{{Name: "order_status", Description: "Looks an order up.", URL: biz.URL, Secret: outbound.NewSecret(),
			Parameters: json.RawMessage(`{"type":"object"}`)}},
		TransferTargets: []storage.TransferTarget{{Name: "Sales", Number: "+14155550100", Description: "Quotes and orders.", Mode: storage.TransferWarm}}}}
	return a, f, &hits, conv
}

// wantCapped checks a turn of two rounds of five calls each: storable as
// it is, and the two calls over storage.MaxToolCalls answered as too many
// in the model's third request.
func wantCapped(t *testing.T, f *openaitest.Server, text string, calls []storage.ToolCall) {
	t.Helper()
	turn := storage.Turn{Number: 1, Role: storage.RoleAssistant, Text: text, ToolCalls: calls}
	if err := turn.Check(); err != nil {
		t.Fatalf("the turn cannot be stored: %v", err)
	}
	var refused int
	for _, m := range f.Request(2).Body.Messages {
		if m.Role == "tool" && m.Content == `{"error":"too many tool calls in one turn"}` {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d calls answered as too many, want 2", refused)
	}
}

// TestReplyToolCallsBounded: a model that keeps calling tools gets at
// most storage.MaxToolCalls of them run in one turn, over every round;
// the others are answered with an error without a request, so the turn
// can be stored.
func TestReplyToolCallsBounded(t *testing.T) {
	a, f, hits, conv := withTools(t, 0, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < 2 {
			openaitest.WriteJSON(w, http.StatusOK, toolCalls(n, 5, "order_status"))
			return
		}
		openaitest.WriteJSON(w, http.StatusOK, openaitest.Completion("It has shipped."))
	})
	got, err := a.Reply(turnCtx(t), conv)
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if got.Text != "It has shipped." || len(got.ToolCalls) != storage.MaxToolCalls || hits.Load() != storage.MaxToolCalls {
		t.Fatalf("Reply made %d calls (%d requests): %+v", len(got.ToolCalls), hits.Load(), got)
	}
	wantCapped(t, f, got.Text, got.ToolCalls)
}

// TestReplyToolRoundsBounded: a server that keeps calling tools, even once
// they are no longer offered, has the turn fail after the last round
// instead of calling them until the deadline.
func TestReplyToolRoundsBounded(t *testing.T) {
	a, f, hits, conv := withTools(t, 0, openaitest.Always(http.StatusOK, openaitest.ToolCall("order_status", `{"order":"A-1"}`)))
	got, err := a.Reply(turnCtx(t), conv)
	var me *assistant.ModelError
	if !errors.As(err, &me) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Reply = %+v, %v; want a ModelError", got, err)
	}
	reqs := f.Requests()
	if len(reqs) != 4 || len(reqs[3].Body.Tools) != 1 || hits.Load() != 3 || len(got.ToolCalls) != 3 {
		t.Fatalf("%d model requests (the last offering %d tools), %d tool requests, %d calls kept",
			len(reqs), len(reqs[len(reqs)-1].Body.Tools), hits.Load(), len(got.ToolCalls))
	}
}
