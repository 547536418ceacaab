package handlers_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/assistant/openai"
	"switchboard/assistant/openai/openaitest"
	"switchboard/handlers/relaytest"
	"switchboard/runtime/outbound"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// A streamed call's turn with a business tool streams each model request
// (round) of the turn: the words before the tool call, then the answer
// with the tool's result.

// toolRound is what the fake model streams for one request.
type toolRound struct {
	words []string
	gap   time.Duration
	// gate, when set, holds the last word back until it is closed.
	gate <-chan struct{}
	// tool, when set, is called after the words, its JSON arguments
	// streamed in the pieces args.
	tool string
	args []string
	// ended, when set, is called when the client goes away mid-stream.
	ended func()
}

// hold waits before word i of p: the gap, and the gate before the last
// word. It reports false when the client went away.
func (p toolRound) hold(t *testing.T, r *http.Request, i int) bool {
	if i > 0 && p.gap > 0 {
		select {
		case <-time.After(p.gap):
		case <-r.Context().Done():
		}
	}
	if i == len(p.words)-1 && p.gate != nil {
		select {
		case <-p.gate:
		case <-time.After(10 * time.Second):
			t.Error("the round's first words never reached the caller while the model was still writing")
		case <-r.Context().Done():
		}
	}
	if r.Context().Err() != nil {
		p.gone()
		return false
	}
	return true
}

// say streams p's words through text, each held as hold says; false when
// the client went away.
func (p toolRound) say(t *testing.T, r *http.Request, text func(string) error) bool {
	for i, word := range p.words {
		if !p.hold(t, r, i) {
			return false
		}
		if text(word) != nil {
			p.gone()
			return false
		}
	}
	return true
}

func (p toolRound) gone() {
	if p.ended != nil {
		p.ended()
	}
}

// toolBackend is a streaming provider's fake, scripted by round.
type toolBackend struct {
	name string
	// callID is the id the fake gives its tool call.
	callID string
	start  func(t *testing.T, rounds func(n int) toolRound, deps assistant.Deps) (assistant.Assistant, requestProbe)
}

// requestProbe reads the fake's request n: whether it was a streaming
// one, and the tool result its history ends with ("" when none).
type requestProbe struct {
	streamed func(n int) bool
	result   func(n int) string
}

var toolBackends = []toolBackend{
	{name: "OpenAI", callID: "call_7", start: startOpenAIRounds},
	{name: "Bedrock", callID: "tooluse_7", start: startBedrockRounds},
}

// startOpenAIRounds streams chat.completion.chunk events.
func startOpenAIRounds(t *testing.T, rounds func(n int) toolRound, deps assistant.Deps) (assistant.Assistant, requestProbe) {
	fake := openaitest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		p := rounds(n)
		s := openaitest.StartStream(w)
		if !p.say(t, r, s.Text) {
			return
		}
		reason := "stop"
		if p.tool != "" {
			_ = s.ToolCallAt(0, "call_7", p.tool, p.args...)
			reason = "tool_calls"
		}
		_ = s.Finish(reason)
	})
	a, err := openai.New(openai.Config{BaseURL: fake.BaseURL(), APIKey: "k", Model: "test-model", Temperature: 0.3, MaxTokens: 150}, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, requestProbe{
		streamed: func(n int) bool { return fake.Request(n).Body.Stream },
		result: func(n int) string {
			msgs := fake.Request(n).Body.Messages
			if last := msgs[len(msgs)-1]; last.Role == "tool" {
				return strings.ReplaceAll(last.Content, " ", "")
			}
			return ""
		},
	}
}

// startBedrockRounds streams ConverseStream events: the words as text
// block 0, then the tool call as toolUse block 1.
func startBedrockRounds(t *testing.T, rounds func(n int) toolRound, deps assistant.Deps) (assistant.Assistant, requestProbe) {
	fake := bedrocktest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		p := rounds(n)
		s := bedrocktest.StartStream(w)
		if !p.say(t, r, s.Text) {
			return
		}
		_ = s.Event("contentBlockStop", map[string]any{"contentBlockIndex": 0})
		reason := "end_turn"
		if p.tool != "" {
			_ = s.ToolUseAt(1, "tooluse_7", p.tool, p.args...)
			reason = "tool_use"
		}
		_ = s.Finish(reason)
	})
	a, err := bedrock.NewWithClient(fake.Client(), bedrock.Config{ModelID: "m", Temperature: 0.3, MaxTokens: 150}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return a, requestProbe{
		streamed: func(n int) bool { return fake.Request(n).Stream },
		result: func(n int) string {
			msgs := fake.Request(n).Body.Messages
			last := msgs[len(msgs)-1]
			if len(last.Content) == 0 || last.Content[0].ToolResult == nil || len(last.Content[0].ToolResult.Content) == 0 {
				return ""
			}
			b, _ := json.Marshal(last.Content[0].ToolResult.Content[0].JSON)
			return string(b)
		},
	}
}

// toolRelay starts an instance whose assistant is b's fake scripted by
// rounds, with a business tool answering answer, and opens a call's socket.
func toolRelay(t *testing.T, b toolBackend, rounds func(n int) toolRound, answer func(w http.ResponseWriter, body map[string]any)) (*servicetest.Instance, *relaytest.Client, string, requestProbe) {
	ts := newToolServer(t)
	ts.answer = answer
	ai, probe := b.start(t, rounds, assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler),
		Tools: assistant.HTTPTools{Client: outbound.New(outbound.Config{AllowPrivate: true})}})
	in := servicetest.Start(t, servicetest.Options{Assistant: ai})
	call, a := routedCall(t, in, relayActingJSON(ts.URL+"/tools/order", "3s"))
	ts.mu.Lock()
	ts.secret = a.Tools[0].Secret
	ts.mu.Unlock()
	return in, reconnect(t, in, call), call.CallSID, probe
}

// shipped is the business tool's answer.
func shipped(w http.ResponseWriter, _ map[string]any) { fmt.Fprint(w, `{"status": "shipped"}`) }

// nextText reads the next text frame.
func nextText(t *testing.T, c *relaytest.Client) relaytest.Frame {
	t.Helper()
	f, err := c.Next(20 * time.Second)
	if err != nil || f.Type != "text" {
		t.Fatalf("want a text frame; got %s, %v", f.Raw, err)
	}
	return f
}

// TestRelayToolTurnStreamsEachRound: with a business tool, the words the
// model writes before calling it reach the caller while that request is
// still streaming, and so do the first words of its answer with the
// tool's result; the call is stored on the turn, and the answer's request
// carried the tool's result.
func TestRelayToolTurnStreamsEachRound(t *testing.T) {
	for _, b := range toolBackends {
		t.Run(b.name, func(t *testing.T) {
			firstHeard, answerHeard := make(chan struct{}), make(chan struct{})
			rounds := func(n int) toolRound {
				if n == 0 {
					return toolRound{words: []string{"Let me check ", "that ", "order."}, gate: firstHeard,
						tool: "order_status", args: []string{`{"order":`, ` "A-1"}`}}
				}
				return toolRound{words: []string{"Your order ", "has ", "shipped."}, gate: answerHeard}
			}
			in, c, sid, probe := toolRelay(t, b, rounds, shipped)
			if err := c.Prompt("Where is my order A-1?"); err != nil {
				t.Fatal(err)
			}
			if f := nextText(t, c); f.Token != "Let me check " || f.Last {
				t.Fatalf("first frame %s; want the first words of the first round", f.Raw)
			}
			close(firstHeard) // only now may the first round end
			var said strings.Builder
			said.WriteString("Let me check ")
			for !strings.Contains(said.String(), "Your order") {
				f := nextText(t, c)
				if f.Last {
					t.Fatalf("the reply ended before the answer's words: %q", said.String()+f.Token)
				}
				said.WriteString(f.Token)
			}
			close(answerHeard) // only now may the answer end
			rest, _, err := c.Reply(20 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := "Let me check that order. Your order has shipped."
			if got := said.String() + rest; got != want {
				t.Fatalf("the caller heard %q, want %q", got, want)
			}
			if !probe.streamed(0) || !probe.streamed(1) {
				t.Fatal("a round was not a streaming request")
			}
			if r := probe.result(1); r != `{"status":"shipped"}` {
				t.Fatalf("the answer's request ended with the tool result %q", r)
			}
			got := waitTurns(t, in, sid, 3)
			tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant)
			if !ok || tu.Text != want || tu.Interrupted || len(tu.ToolCalls) != 1 || tu.ToolCalls[0].ID != b.callID ||
				tu.ToolCalls[0].Name != "order_status" || strings.ReplaceAll(string(tu.ToolCalls[0].Arguments), " ", "") != `{"order":"A-1"}` ||
				strings.ReplaceAll(string(tu.ToolCalls[0].Result), " ", "") != `{"status":"shipped"}` {
				t.Fatalf("stored turn: %+v", tu)
			}
		})
	}
}

// TestRelayToolTurnBargeInDuringTheAnswer: the caller talking over the
// answer that follows a tool call stops that request, and the turn is
// stored as heard, with its tool call.
func TestRelayToolTurnBargeInDuringTheAnswer(t *testing.T) {
	for _, b := range toolBackends {
		t.Run(b.name, func(t *testing.T) {
			ended := make(chan struct{})
			var once sync.Once
			rounds := func(n int) toolRound {
				switch n {
				case 0:
					return toolRound{words: []string{"Let me check."}, tool: "order_status", args: []string{`{"order": "A-1"}`}}
				case 1:
					words := strings.SplitAfter("Your order has shipped and it should arrive on Monday or Tuesday next week at the latest.", " ")
					return toolRound{words: words, gap: 40 * time.Millisecond, ended: func() { once.Do(func() { close(ended) }) }}
				default:
					return toolRound{words: []string{"Okay."}}
				}
			}
			in, c, sid, _ := toolRelay(t, b, rounds, shipped)
			if err := c.Prompt("Where is my order A-1?"); err != nil {
				t.Fatal(err)
			}
			var said strings.Builder
			for !strings.Contains(said.String(), "Your order ") {
				f := nextText(t, c)
				if f.Last {
					t.Fatalf("the reply ended: %q", said.String()+f.Token)
				}
				said.WriteString(f.Token)
			}
			const heard = "Let me check. Your order"
			if err := c.Interrupt(heard, 900); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the answer's stream went on after the caller interrupted")
			}
			got := waitTurns(t, in, sid, 3)
			tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant)
			if !ok || tu.Text != heard || !tu.Interrupted || len(tu.ToolCalls) != 1 || tu.ToolCalls[0].ID != b.callID || tu.ToolCalls[0].Error != "" {
				t.Fatalf("stored turn: %+v", tu)
			}
		})
	}
}

// TestRelayToolTurnBargeInDuringTheTool: the caller talking while the
// tool runs cancels the tool's request and the turn: the model is not
// asked for an answer, and the turn is stored as heard, with the tool call
// and its error.
func TestRelayToolTurnBargeInDuringTheTool(t *testing.T) {
	for _, b := range toolBackends {
		t.Run(b.name, func(t *testing.T) {
			release := make(chan struct{})
			slow := func(w http.ResponseWriter, _ map[string]any) {
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
				fmt.Fprint(w, `{"status": "shipped"}`)
			}
			var requests atomic.Int32
			rounds := func(n int) toolRound {
				requests.Add(1)
				if n == 0 {
					return toolRound{words: []string{"Let me ", "check."}, tool: "order_status", args: []string{`{"order": "A-1"}`}}
				}
				return toolRound{words: []string{"Your order has shipped."}}
			}
			in, c, sid, _ := toolRelay(t, b, rounds, slow)
			// Registered after the tool server, so it runs before the
			// server's Close waits for the held request.
			t.Cleanup(func() { close(release) })
			if err := c.Prompt("Where is my order A-1?"); err != nil {
				t.Fatal(err)
			}
			var said strings.Builder
			for said.String() != "Let me check." {
				said.WriteString(nextText(t, c).Token)
			}
			if err := c.Interrupt("Let me check.", 300); err != nil {
				t.Fatal(err)
			}
			got := waitTurns(t, in, sid, 3)
			tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant)
			// The tool's own timeout is 3 s: a shorter call was cut by the
			// interruption.
			if !ok || tu.Text != "Let me check." || !tu.Interrupted || len(tu.ToolCalls) != 1 || tu.ToolCalls[0].ID != b.callID ||
				tu.ToolCalls[0].Error == "" || tu.ToolCalls[0].DurationMS >= 3000 {
				t.Fatalf("stored turn: %+v", tu)
			}
			if n := requests.Load(); n != 1 {
				t.Fatalf("the model was asked %d times; want once, the answer never asked for", n)
			}
		})
	}
}

// TestRelayScriptedToolTurnBargeIn: the scripted assistant (make run)
// streams the answer after its tool word by word too, and barging in on
// it stores the turn as heard, with the tool call.
func TestRelayScriptedToolTurnBargeIn(t *testing.T) {
	ts := newToolServer(t)
	ts.answer = shipped
	in := servicetest.Start(t, servicetest.Options{})
	call, a := routedCall(t, in, relayActingJSON(ts.URL+"/tools/order", "3s"))
	ts.mu.Lock()
	ts.secret = a.Tools[0].Secret
	ts.mu.Unlock()
	c := reconnect(t, in, call)
	if err := c.Prompt(`use order_status {"order": "A-1"}`); err != nil {
		t.Fatal(err)
	}
	if f := nextText(t, c); f.Token != "order " || f.Last {
		t.Fatalf("first frame %s; want the answer's first word alone", f.Raw)
	}
	if err := c.Interrupt("order", 200); err != nil {
		t.Fatal(err)
	}
	got := waitTurns(t, in, call.CallSID, 3)
	if tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant); !ok || tu.Text != "order" || !tu.Interrupted ||
		len(tu.ToolCalls) != 1 || tu.ToolCalls[0].Name != "order_status" || tu.ToolCalls[0].Error != "" {
		t.Fatalf("stored turn: %+v", tu)
	}
}

// TestRelayToolTurnTransfer: a model's transfer_call in a streamed round
// ends the session with the transfer once the round's words, streamed,
// are said; the transfer's summary is the model's.
func TestRelayToolTurnTransfer(t *testing.T) {
	for _, b := range toolBackends {
		t.Run(b.name, func(t *testing.T) {
			rounds := func(n int) toolRound {
				return toolRound{words: []string{"Connecting you ", "to sales."}, tool: assistant.TransferTool,
					args: []string{`{"target": "Sales", `, `"summary": "Wants a quote for chairs."}`}}
			}
			in, c, sid, _ := toolRelay(t, b, rounds, shipped)
			said, h := transferOverRelay(t, c, "Put me through to sales, please.")
			if said != "Connecting you to sales." || h["reason"] != "transfer" || h["turn"] != float64(1) {
				t.Fatalf("said %q, handoff %v", said, h)
			}
			got := waitTurns(t, in, sid, 3)
			if tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant); !ok || tu.Text != said || tu.Transfer == nil {
				t.Fatalf("stored turn: %+v", tu)
			}
			if len(got.Transfers) != 1 || got.Transfers[0].Summary != "Wants a quote for chairs." {
				t.Fatalf("transfers: %+v", got.Transfers)
			}
		})
	}
}
