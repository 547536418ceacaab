package openaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Streaming answers, as the chat-completions API sends them with
// "stream": true: server-sent events, each "data: " and one
// chat.completion.chunk object, the first delta carrying the role, the last
// chunk the finish_reason, then the usage chunk (choices empty) that
// stream_options.include_usage asks for, then "data: [DONE]". The shapes
// follow the API reference's "The chat completion chunk object" and the
// ChatCompletionChunk type of the official openai-go SDK.

// Streamer writes one streamed answer event by event, flushing each so the
// client sees it at once.
type Streamer struct {
	w  http.ResponseWriter
	fl http.Flusher
}

// StartStream answers 200 with an event stream.
func StartStream(w http.ResponseWriter) *Streamer {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	s := &Streamer{w: w, fl: fl}
	s.event(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	return s
}

// Text sends one content delta; the error says the client went away.
func (s *Streamer) Text(delta string) error {
	return s.event(chunk(map[string]any{"content": delta}, nil))
}

// ToolCall sends a call of name whose arguments arrive in the given pieces,
// as the answer's only call (index 0, id "call_1").
func (s *Streamer) ToolCall(name string, argPieces ...string) error {
	return s.ToolCallAt(0, "call_1", name, argPieces...)
}

// ToolCallAt sends the call at index (of the answer's calls) with id and
// name, whose arguments arrive in the given pieces. As the API streams it,
// the first delta.tool_calls piece carries index, id, type "function" and
// function.name with empty arguments; the next ones only the index and a
// piece of function.arguments; the answer then ends with finish_reason
// "tool_calls" (see Finish). Shapes: the chat completion chunk object's
// choices[].delta.tool_calls in the API reference, and openai-go's
// ChatCompletionChunkChoiceDeltaToolCall.
func (s *Streamer) ToolCallAt(index int, id, name string, argPieces ...string) error {
	first := map[string]any{"tool_calls": []any{map[string]any{
		"index": index, "id": id, "type": "function",
		"function": map[string]any{"name": name, "arguments": ""},
	}}}
	if err := s.event(chunk(first, nil)); err != nil {
		return err
	}
	for _, p := range argPieces {
		d := map[string]any{"tool_calls": []any{map[string]any{"index": index, "function": map[string]any{"arguments": p}}}}
		if err := s.event(chunk(d, nil)); err != nil {
			return err
		}
	}
	return nil
}

// Finish sends the finish reason, the usage chunk and [DONE].
func (s *Streamer) Finish(reason string) error {
	if err := s.event(chunk(map[string]any{}, &reason)); err != nil {
		return err
	}
	usage, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "test-model",
		"choices": []any{},
		"usage":   map[string]any{"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
	})
	if err := s.event(string(usage)); err != nil {
		return err
	}
	return s.event("[DONE]")
}

func (s *Streamer) event(data string) error {
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", data); err != nil {
		return err
	}
	if s.fl != nil {
		s.fl.Flush()
	}
	return nil
}

func chunk(delta map[string]any, finish *string) string {
	choice := map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": nil}
	if finish != nil {
		choice["finish_reason"] = *finish
	}
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "test-model",
		"choices": []any{choice}, "usage": nil,
	})
	return string(b)
}

// Tokens streams tokens, gap apart after a first-token delay of first,
// then finishes with "stop". It stops early when the client goes away and
// then calls ended, if set: the fake sees the request end.
func Tokens(first, gap time.Duration, ended func(), tokens ...string) Responder {
	return func(_ int, w http.ResponseWriter, r *http.Request) {
		stop := func() {
			if ended != nil {
				ended()
			}
		}
		if !wait(r, first) {
			stop()
			return
		}
		s := StartStream(w)
		for i, tok := range tokens {
			if i > 0 && !wait(r, gap) {
				stop()
				return
			}
			if s.Text(tok) != nil {
				stop()
				return
			}
		}
		_ = s.Finish("stop")
	}
}

// wait sleeps d unless the request ends first.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Raw answers with body verbatim as an event stream, for malformed streams.
func Raw(body string) Responder {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body)
	}
}
