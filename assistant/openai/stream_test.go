package openai_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/openai/openaitest"
)

// sinkLog records what a stream said, in order, and when.
type sinkLog struct {
	mu     sync.Mutex
	pieces []string
	first  chan struct{}
	once   sync.Once
	tokens int
}

func newSinkLog() *sinkLog { return &sinkLog{first: make(chan struct{})} }

func (l *sinkLog) sink(stopAfter int, stopErr error) assistant.Sink {
	return assistant.Sink{
		Text: func(s string) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			if stopAfter > 0 && len(l.pieces) >= stopAfter {
				return stopErr
			}
			l.pieces = append(l.pieces, s)
			l.once.Do(func() { close(l.first) })
			return nil
		},
		FirstToken: func(time.Time) {
			l.mu.Lock()
			l.tokens++
			l.mu.Unlock()
		},
	}
}

func (l *sinkLog) said() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.pieces, "")
}

func TestStreamForwardsTokensAsTheyArrive(t *testing.T) {
	log := newSinkLog()
	fake := openaitest.New(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		s := openaitest.StartStream(w)
		_ = s.Text("We open ")
		_ = s.Text("at nine")
		// The last token waits until the client has passed the first words
		// on: a stream that held the reply back would never get here.
		select {
		case <-log.first:
		case <-time.After(10 * time.Second):
			t.Error("no text reached the sink before the provider's last token")
		case <-r.Context().Done():
			return
		}
		_ = s.Text(" today.")
		_ = s.Finish("stop")
	})
	env := mustAssistant(t, fake.BaseURL(), nil)
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "When do you open?")), log.sink(0, nil))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if reply.Text != "We open at nine today." || reply.EndCall {
		t.Errorf("reply = %+v, want the streamed text and no end", reply)
	}
	if got := log.said(); got != "We open at nine today." {
		t.Errorf("sink got %q", got)
	}
	if log.tokens != 1 {
		t.Errorf("FirstToken called %d times, want 1", log.tokens)
	}
	req := fake.Request(0).Body
	if !req.Stream || len(req.Tools) != 1 || req.Tools[0].Function.Name != assistant.EndCallTool {
		t.Errorf("request stream=%v tools=%+v; want a streamed request offering end_call", req.Stream, req.Tools)
	}
	if msgs := req.Messages; len(msgs) != 3 || msgs[2].Role != "user" || msgs[2].Content != "When do you open?" {
		t.Errorf("messages = %+v; want system, greeting, the caller's words", msgs)
	}
}

func TestStreamShapesMarkdownForSpeech(t *testing.T) {
	log := newSinkLog()
	fake := openaitest.New(t, openaitest.Tokens(0, 0, nil,
		"## Hours\n", "- **Mon", "day** to Friday", ": see [our site](https://ex", "ample.com/hours) ", "or https://example.com ", "today 🎉.\n",
		"```\ncode\n```\n", "Bye."))
	env := mustAssistant(t, fake.BaseURL(), nil)
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Hours?")), log.sink(0, nil))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	want := "Hours. Monday to Friday: see our site or today. Bye."
	if reply.Text != want {
		t.Errorf("reply = %q\nwant     %q", reply.Text, want)
	}
	for _, bad := range []string{"*", "#", "http", "`", "🎉", "code"} {
		if strings.Contains(log.said(), bad) {
			t.Errorf("spoken text %q contains %q", log.said(), bad)
		}
	}
}

func TestStreamStopsAtMaxReplyChars(t *testing.T) {
	log := newSinkLog()
	ended := make(chan struct{})
	tokens := append(strings.SplitAfter(strings.Repeat("word ", 200), " "), "end.")
	fake := openaitest.New(t, openaitest.Tokens(0, time.Millisecond, func() { close(ended) }, tokens...))
	env := mustAssistant(t, fake.BaseURL(), func(c *assistant.ModelConfig) { c.MaxReplyChars = 60 })
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Talk.")), log.sink(0, nil))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if n := len([]rune(reply.Text)); n > 61 || n < 40 || !strings.HasSuffix(reply.Text, ".") {
		t.Errorf("reply %q (%d runes): want about 60 runes ended as a sentence", reply.Text, n)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider's request did not end once the reply was long enough")
	}
}

func TestStreamEndCall(t *testing.T) {
	fake := openaitest.New(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		s := openaitest.StartStream(w)
		_ = s.ToolCall(assistant.EndCallTool, `{"fare`, `well":"Goodbye, `, `have a nice day!"}`)
		_ = s.Finish("tool_calls")
	})
	env := mustAssistant(t, fake.BaseURL(), nil)
	log := newSinkLog()
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "That's all, bye.")), log.sink(0, nil))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if !reply.EndCall || reply.Farewell != "Goodbye, have a nice day!" || reply.Text != "" {
		t.Errorf("reply = %+v; want end_call with the streamed farewell and nothing said", reply)
	}
	if log.said() != "" {
		t.Errorf("the farewell was streamed: %q", log.said())
	}
}

func TestStreamSinkErrorCancelsTheRequest(t *testing.T) {
	ended := make(chan struct{})
	fake := openaitest.New(t, openaitest.Tokens(0, 20*time.Millisecond, func() { close(ended) },
		"One ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight."))
	env := mustAssistant(t, fake.BaseURL(), nil)
	log := newSinkLog()
	interrupted := errors.New("caller interrupted")
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Count.")), log.sink(2, interrupted))
	if !errors.Is(err, interrupted) {
		t.Fatalf("Stream error = %v, want the sink's", err)
	}
	if reply.Text != "One two" {
		t.Errorf("reply text %q, want what the sink took", reply.Text)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider's request went on after the sink stopped")
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests, want 1 (no retry after the caller heard text)", n)
	}
}

func TestStreamRetriesOnlyBeforeTheFirstToken(t *testing.T) {
	t.Run("RetriedBeforeText", func(t *testing.T) {
		fake := openaitest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 0 {
				openaitest.WriteJSON(w, http.StatusServiceUnavailable, `{"error":{"message":"overloaded"}}`)
				return
			}
			openaitest.Tokens(0, 0, nil, "Hello ", "again.")(n, w, r)
		})
		env := mustAssistant(t, fake.BaseURL(), nil)
		reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Hi")), newSinkLog().sink(0, nil))
		if err != nil || reply.Text != "Hello again." {
			t.Fatalf("Stream = %+v, %v; want the second attempt's text", reply, err)
		}
		if n := len(fake.Requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
	t.Run("NotRetriedMidReply", func(t *testing.T) {
		cut := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"We open "},"finish_reason":null}]}` + "\n\n"
		fake := openaitest.New(t, openaitest.Raw(cut))
		env := mustAssistant(t, fake.BaseURL(), nil)
		log := newSinkLog()
		reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Hi")), log.sink(0, nil))
		modelError(t, err, assistant.OutcomeMalformed)
		if reply.Text != "We open" || strings.TrimSpace(log.said()) != "We open" {
			t.Errorf("reply %q, sink %q; want the words said before the stream broke", reply.Text, log.said())
		}
		if n := len(fake.Requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("FirstTokenTimeout", func(t *testing.T) {
		fake := openaitest.New(t, openaitest.Tokens(5*time.Second, 0, nil, "late."))
		env := mustAssistant(t, fake.BaseURL(), func(c *assistant.ModelConfig) {
			c.AttemptTimeout = 100 * time.Millisecond
			c.TurnTimeout = 400 * time.Millisecond
		})
		_, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Hi")), newSinkLog().sink(0, nil))
		modelError(t, err, assistant.OutcomeTimeout)
	})
}
