package bedrock_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/bedrock/bedrocktest"
)

// collect is a sink that records what a stream said.
type collect struct {
	mu     sync.Mutex
	pieces []string
	first  chan struct{}
	once   sync.Once
	stopAt int
	stop   error
}

func newCollect() *collect { return &collect{first: make(chan struct{})} }

func (c *collect) sink() assistant.Sink {
	return assistant.Sink{Text: func(s string) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stopAt > 0 && len(c.pieces) >= c.stopAt {
			return c.stop
		}
		c.pieces = append(c.pieces, s)
		c.once.Do(func() { close(c.first) })
		return nil
	}}
}

func (c *collect) said() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.pieces, "")
}

func TestStreamForwardsDeltasAsTheyArrive(t *testing.T) {
	got := newCollect()
	fake := bedrocktest.New(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		s := bedrocktest.StartStream(w)
		_ = s.Text("We open ")
		_ = s.Text("at nine")
		select {
		case <-got.first:
		case <-time.After(10 * time.Second):
			t.Error("no text reached the sink before the provider's last delta")
		case <-r.Context().Done():
			return
		}
		_ = s.Text(" today.")
		_ = s.Event("contentBlockStop", map[string]any{"contentBlockIndex": 0})
		_ = s.Finish("end_turn")
	})
	env := mustAssistant(t, fake, nil)
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "When do you open?")), got.sink())
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if reply.Text != "We open at nine today." || got.said() != "We open at nine today." {
		t.Errorf("reply %q, sink %q; want the streamed text", reply.Text, got.said())
	}
	req := fake.Request(0)
	if !req.Stream || req.Body.ToolConfig == nil {
		t.Errorf("request stream=%v toolConfig=%v; want a signed ConverseStream request offering end_call", req.Stream, req.Body.ToolConfig)
	}
}

func TestStreamEndCallToolUse(t *testing.T) {
	fake := bedrocktest.New(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		s := bedrocktest.StartStream(w)
		_ = s.ToolUse(assistant.EndCallTool, `{"farewell":`, `"Bye now!"}`)
		_ = s.Finish("tool_use")
	})
	env := mustAssistant(t, fake, nil)
	got := newCollect()
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Bye.")), got.sink())
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if !reply.EndCall || reply.Farewell != "Bye now!" || got.said() != "" {
		t.Errorf("reply %+v, said %q; want end_call's farewell, nothing streamed", reply, got.said())
	}
}

func TestStreamSinkErrorEndsTheRequest(t *testing.T) {
	ended := make(chan struct{})
	fake := bedrocktest.New(t, bedrocktest.Tokens(0, 20*time.Millisecond, func() { close(ended) },
		"One ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight."))
	env := mustAssistant(t, fake, nil)
	got := newCollect()
	got.stopAt, got.stop = 2, errors.New("caller interrupted")
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Count.")), got.sink())
	if !errors.Is(err, got.stop) || reply.Text != "One two" {
		var me *assistant.ModelError
		if errors.As(err, &me) {
			t.Logf("cause: %v", me.Err)
		}
		t.Fatalf("Stream = %q, %v; want the two words said and the sink's error", reply.Text, err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider's stream went on after the sink stopped")
	}
}

func TestStreamThrottledBeforeTextIsRetried(t *testing.T) {
	fake := bedrocktest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			bedrocktest.AWSError(w, http.StatusTooManyRequests, "ThrottlingException", "slow down")
			return
		}
		bedrocktest.Tokens(0, 0, nil, "Hello.")(n, w, r)
	})
	env := mustAssistant(t, fake, nil)
	reply, err := env.a.Stream(turnCtx(t), conversation(caller(1, "Hi")), newCollect().sink())
	if err != nil || reply.Text != "Hello." {
		t.Fatalf("Stream = %+v, %v; want the second attempt's text", reply, err)
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
