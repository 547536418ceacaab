package bedrocktest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// ConverseStream answers are an AWS event stream
// (application/vnd.amazon.eventstream): binary messages, each with the
// headers :message-type "event", :event-type naming the event and
// :content-type "application/json", and the event as a JSON payload. The
// events and their fields follow the ConverseStream API reference's
// response syntax: messageStart {role}, contentBlockStart {start,
// contentBlockIndex}, contentBlockDelta {delta {text | toolUse {input}},
// contentBlockIndex}, contentBlockStop, messageStop {stopReason} and
// metadata {usage, metrics}.

// EventStream writes one ConverseStream answer event by event, flushing
// each so the client sees it at once.
type EventStream struct {
	w   http.ResponseWriter
	fl  http.Flusher
	enc *eventstream.Encoder
}

// StartStream answers 200 with an event stream opened by messageStart.
func StartStream(w http.ResponseWriter) *EventStream {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	s := &EventStream{w: w, fl: fl, enc: eventstream.NewEncoder()}
	_ = s.Event("messageStart", map[string]any{"role": "assistant"})
	return s
}

// Event sends one event; the error says the client went away.
func (s *EventStream) Event(typ string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue(typ))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	var buf bytes.Buffer
	if err := s.enc.Encode(&buf, eventstream.Message{Headers: h, Payload: body}); err != nil {
		return err
	}
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return err
	}
	if s.fl != nil {
		s.fl.Flush()
	}
	return nil
}

// Text sends a text delta of content block 0.
func (s *EventStream) Text(delta string) error {
	return s.Event("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": delta}})
}

// ToolUse sends a toolUse block (index 1, after a text block) calling
// name, its JSON input streamed in the given pieces.
func (s *EventStream) ToolUse(name string, inputPieces ...string) error {
	return s.ToolUseAt(1, "tooluse_1", name, inputPieces...)
}

// ToolUseAt sends content block index as a toolUse block with id and name:
// contentBlockStart {start: {toolUse: {toolUseId, name}}}, a
// contentBlockDelta {delta: {toolUse: {input}}} for each piece of its JSON
// input, then contentBlockStop. The answer then ends with messageStop
// stopReason "tool_use" (see Finish). Shapes: the ConverseStream API
// reference's ContentBlockStart, ToolUseBlockStart and
// ToolUseBlockDelta, and the user guide's ConverseStream tool use example
// (docs.aws.amazon.com/bedrock/latest/userguide/tool-use-examples.html).
func (s *EventStream) ToolUseAt(index int, id, name string, inputPieces ...string) error {
	if err := s.Event("contentBlockStart", map[string]any{"contentBlockIndex": index,
		"start": map[string]any{"toolUse": map[string]any{"toolUseId": id, "name": name}}}); err != nil {
		return err
	}
	for _, p := range inputPieces {
		if err := s.Event("contentBlockDelta", map[string]any{"contentBlockIndex": index,
			"delta": map[string]any{"toolUse": map[string]any{"input": p}}}); err != nil {
			return err
		}
	}
	return s.Event("contentBlockStop", map[string]any{"contentBlockIndex": index})
}

// Finish sends messageStop with reason and the metadata event.
func (s *EventStream) Finish(reason string) error {
	if err := s.Event("messageStop", map[string]any{"stopReason": reason}); err != nil {
		return err
	}
	return s.Event("metadata", map[string]any{
		"usage":   map[string]any{"inputTokens": 31, "outputTokens": 6, "totalTokens": 37},
		"metrics": map[string]any{"latencyMs": 5},
	})
}

// Tokens streams tokens as text deltas, gap apart after a first-token delay
// of first, then ends the turn. It stops early when the client goes away
// and then calls ended, if set: the fake sees the request end.
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
		_ = s.Event("contentBlockStop", map[string]any{"contentBlockIndex": 0})
		_ = s.Finish("end_turn")
	}
}

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
