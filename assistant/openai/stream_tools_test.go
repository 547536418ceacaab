package openai_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/openai/openaitest"
	"switchboard/storage"
)

// TestStreamToolCallsBounded: streamed rounds are bounded as whole ones
// are: at most storage.MaxToolCalls calls run over the turn, the others
// answered with an error without a request.
func TestStreamToolCallsBounded(t *testing.T) {
	a, f, hits, conv := withTools(t, 0, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			s := openaitest.StartStream(w)
			for i := range 5 {
				_ = s.ToolCallAt(i, fmt.Sprintf("call_%d_%d", n, i), "order_status", `{"order":`, `"A-1"}`)
			}
			_ = s.Finish("tool_calls")
			return
		}
		openaitest.Tokens(0, 0, nil, "It has ", "shipped.")(n, w, r)
	})
	log := newSinkLog()
	got, err := a.Stream(turnCtx(t), conv, log.sink(0, nil))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if got.Text != "It has shipped." || log.said() != got.Text || len(got.ToolCalls) != storage.MaxToolCalls || hits.Load() != storage.MaxToolCalls {
		t.Fatalf("Stream said %q, made %d calls (%d requests): %+v", log.said(), len(got.ToolCalls), hits.Load(), got)
	}
	wantCapped(t, f, got.Text, got.ToolCalls)
}

// TestStreamToolRoundsBounded: a server that keeps calling tools, even
// once they are no longer offered, has the streamed turn fail after the
// last round.
func TestStreamToolRoundsBounded(t *testing.T) {
	a, f, hits, conv := withTools(t, 0, func(n int, w http.ResponseWriter, r *http.Request) {
		s := openaitest.StartStream(w)
		_ = s.ToolCallAt(0, fmt.Sprintf("call_%d", n), "order_status", `{"order":"A-1"}`)
		_ = s.Finish("tool_calls")
	})
	got, err := a.Stream(turnCtx(t), conv, newSinkLog().sink(0, nil))
	var me *assistant.ModelError
	if !errors.As(err, &me) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Stream = %+v, %v; want a ModelError", got, err)
	}
	reqs := f.Requests()
	if len(reqs) != 4 || len(reqs[3].Body.Tools) != 1 || hits.Load() != 3 || len(got.ToolCalls) != 3 {
		t.Fatalf("%d model requests (the last offering %d tools), %d tool requests, %d calls kept",
			len(reqs), len(reqs[len(reqs)-1].Body.Tools), hits.Load(), len(got.ToolCalls))
	}
}

// TestStreamTransferAndEndCall: transfer_call and end_call in a streamed
// round end the turn as in a whole one: the round's words said and the
// transfer returned (or a sentence saying it when the model wrote none);
// end_call's farewell kept for the end, after a tool's round.
func TestStreamTransferAndEndCall(t *testing.T) {
	const args = `{"target":"sales","summary":"Wants a quote."}`
	for name, tc := range map[string]struct {
		respond openaitest.Responder
		said    string
	}{
		"TransferWithWords": {func(n int, w http.ResponseWriter, r *http.Request) {
			s := openaitest.StartStream(w)
			_ = s.Text("Connecting you ")
			_ = s.Text("now.")
			_ = s.ToolCallAt(0, "call_1", "transfer_call", args)
			_ = s.Finish("tool_calls")
		}, "Connecting you now."},
		"TransferWithout": {func(n int, w http.ResponseWriter, r *http.Request) {
			s := openaitest.StartStream(w)
			_ = s.ToolCallAt(0, "call_1", "transfer_call", `{"target":`, `"sales","summary":"Wants a quote."}`)
			_ = s.Finish("tool_calls")
		}, "Please hold while I transfer you to Sales."},
	} {
		t.Run(name, func(t *testing.T) {
			a, _, hits, conv := withTools(t, 0, tc.respond)
			log := newSinkLog()
			got, err := a.Stream(turnCtx(t), conv, log.sink(0, nil))
			if err != nil || got.Transfer == nil || got.Transfer.Target.Number != "+14155550100" || got.Transfer.Summary != "Wants a quote." ||
				got.Text != tc.said || log.said() != tc.said || hits.Load() != 0 {
				t.Fatalf("Stream = %+v, %v; said %q", got, err, log.said())
			}
		})
	}
	t.Run("EndCallAfterTool", func(t *testing.T) {
		a, _, hits, conv := withTools(t, 0, func(n int, w http.ResponseWriter, r *http.Request) {
			s := openaitest.StartStream(w)
			if n == 0 {
				_ = s.Text("Checking.")
				_ = s.ToolCallAt(0, "call_1", "order_status", `{"order":"A-1"}`)
			} else {
				_ = s.Text("It shipped.")
				_ = s.ToolCallAt(0, "call_2", "end_call", `{"farewell":`, `"Goodbye!"}`)
			}
			_ = s.Finish("tool_calls")
		})
		log := newSinkLog()
		got, err := a.Stream(turnCtx(t), conv, log.sink(0, nil))
		if err != nil || !got.EndCall || got.Farewell != "Goodbye!" || got.Text != "Checking. It shipped." ||
			log.said() != got.Text || len(got.ToolCalls) != 1 || hits.Load() != 1 {
			t.Fatalf("Stream = %+v, %v; said %q", got, err, log.said())
		}
	})
}

// TestStreamFillerBetweenRounds: a slow tool has the caller hear the
// filler after the words the model wrote before calling it, then the
// answer, each piece spaced from the one before.
func TestStreamFillerBetweenRounds(t *testing.T) {
	a, _, hits, conv := withTools(t, assistant.FillerDelay+300*time.Millisecond, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			s := openaitest.StartStream(w)
			_ = s.Text("Let me ")
			_ = s.Text("check.")
			_ = s.ToolCallAt(0, "call_1", "order_status", `{"order":"A-1"}`)
			_ = s.Finish("tool_calls")
			return
		}
		openaitest.Tokens(0, 0, nil, "It has ", "shipped.")(n, w, r)
	})
	log := newSinkLog()
	got, err := a.Stream(turnCtx(t), conv, log.sink(0, nil))
	want := "Let me check. " + assistant.Filler + " It has shipped."
	if err != nil || got.Text != want || log.said() != want || len(got.ToolCalls) != 1 || hits.Load() != 1 {
		t.Fatalf("Stream = %+v, %v; said %q, want %q", got, err, log.said(), want)
	}
	if log.tokens != 1 {
		t.Fatalf("first token reported %d times, want once per turn", log.tokens)
	}
}

// TestStreamToolTurnStopsAtMaxReplyChars: the turn's length limit counts
// every round: words before a tool call that reach it are cut there, the
// tool still runs, and the answer's request, of which nothing more can be
// said, is ended and ends the turn, rather than being asked again.
func TestStreamToolTurnStopsAtMaxReplyChars(t *testing.T) {
	ended := make(chan struct{})
	a, f, hits, conv := withTools(t, 0, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			s := openaitest.StartStream(w)
			_ = s.Text("Let me check ")
			for range 9 {
				_ = s.Text("word ")
			}
			// Held back until the round ends, where it passes the limit.
			_ = s.Text("overflowing")
			_ = s.ToolCallAt(0, "call_1", "order_status", `{"order":"A-1"}`)
			_ = s.Finish("tool_calls")
			return
		}
		openaitest.Tokens(0, time.Millisecond, func() { close(ended) }, "It ", "has ", "shipped.")(n, w, r)
	})
	conv.Assistant.Speech.MaxReplyChars = 60
	log := newSinkLog()
	got, err := a.Stream(turnCtx(t), conv, log.sink(0, nil))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if n := len([]rune(got.Text)); n > 61 || n < 40 || !strings.HasPrefix(got.Text, "Let me check word") || !strings.HasSuffix(got.Text, ".") ||
		log.said() != got.Text || len(got.ToolCalls) != 1 || hits.Load() != 1 {
		t.Fatalf("Stream = %+v (%d runes); said %q", got, n, log.said())
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the answer's request did not end")
	}
	if n := len(f.Requests()); n != 2 {
		t.Fatalf("%d model requests, want 2", n)
	}
}

// TestStreamToolCallIDRepeated: a server that repeats a call's id on
// every piece of it (some compatible servers do) gives the call that id
// once, as the SDK's accumulator does, not the pieces' ids joined.
func TestStreamToolCallIDRepeated(t *testing.T) {
	a, _, hits, conv := withTools(t, 0, func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 0 {
			openaitest.Tokens(0, 0, nil, "It has ", "shipped.")(n, w, r)
			return
		}
		s := openaitest.StartStream(w)
		_ = s.ToolCallAt(0, "call_9", "order_status")
		for _, piece := range []string{`{"order":`, `"A-1"}`} {
			_ = s.ToolCallAt(0, "call_9", "", piece)
		}
		_ = s.Finish("tool_calls")
	})
	got, err := a.Stream(turnCtx(t), conv, newSinkLog().sink(0, nil))
	if err != nil || len(got.ToolCalls) != 1 || got.ToolCalls[0].ID != "call_9" || got.ToolCalls[0].Name != "order_status" ||
		string(got.ToolCalls[0].Arguments) != `{"order":"A-1"}` || got.ToolCalls[0].Error != "" || hits.Load() != 1 {
		t.Fatalf("Stream = %+v, %v", got, err)
	}
}
