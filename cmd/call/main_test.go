package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// screen is the terminal: what the simulator printed so far.
type screen struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// converse types each line once the screen shows what it waits for.
func converse(t *testing.T, sc *screen, steps [][2]string) io.Reader {
	r, w := io.Pipe()
	go func() {
		defer w.Close()
		for _, st := range steps {
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(sc.String(), st[0]) {
				if time.Now().After(deadline) {
					t.Errorf("the screen never showed %q:\n%s", st[0], sc.String())
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := io.WriteString(w, st[1]+"\n"); err != nil {
				return
			}
		}
	}()
	return r
}

func callArgs(in *servicetest.Instance) []string {
	return []string{"-url", in.URL, "-public-url", servicetest.PublicBaseURL, "-auth-token", servicetest.AuthToken}
}

func TestCallSimulatorRelay(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = time.Millisecond
	in := servicetest.Start(t, servicetest.Options{Assistant: s, Configure: func(c *service.Config) { c.CallMode = handlers.ModeRelay }})
	sc := &screen{}
	stdin := converse(t, sc, [][2]string{
		{"you: ", "What are your opening hours?"},
		{"six in the evening.", "Thanks, goodbye."},
	})
	if err := run(context.Background(), callArgs(in), stdin, sc); err != nil {
		t.Fatalf("call: %v\n%s", err, sc.String())
	}
	out := sc.String()
	for _, want := range []string{"assistant: " + s.Greeting, "assistant: We are open Monday to Friday", "assistant: " + s.Goodbye, "[call ended]"} {
		if !strings.Contains(out, want) {
			t.Errorf("screen lacks %q:\n%s", want, out)
		}
	}
}

func TestCallSimulatorGather(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	sc := &screen{}
	stdin := converse(t, sc, [][2]string{
		{"you: ", "Where are you located?"},
		{"central station.", "No thanks, goodbye."},
	})
	if err := run(context.Background(), callArgs(in), stdin, sc); err != nil {
		t.Fatalf("call: %v\n%s", err, sc.String())
	}
	out := sc.String()
	for _, want := range []string{"100 Main Street", "Goodbye!", "[call ended]"} {
		if !strings.Contains(out, want) {
			t.Errorf("screen lacks %q:\n%s", want, out)
		}
	}
}

func TestCallSimulatorRefusesBadFlags(t *testing.T) {
	if err := run(context.Background(), []string{"-url", "ftp://x"}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("an ftp URL was accepted")
	}
}

func TestCallSimulatorInterrupts(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 100 * time.Millisecond
	in := servicetest.Start(t, servicetest.Options{Assistant: s, Configure: func(c *service.Config) { c.CallMode = handlers.ModeRelay }})
	sc := &screen{}
	stdin := converse(t, sc, [][2]string{
		{"you: ", "What are your opening hours?"},
		{"assistant: We are", "!Where are you located?"},
		{"central station.", ""},
	})
	if err := run(context.Background(), callArgs(in), stdin, sc); err != nil {
		t.Fatalf("call: %v\n%s", err, sc.String())
	}
	out := sc.String()
	if !strings.Contains(out, `[you interrupt after "We are`) || !strings.Contains(out, "100 Main Street") {
		t.Errorf("screen:\n%s", out)
	}
	// The stored reply is what was heard, marked interrupted.
	var sid string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "CA") && len(f) > 34 {
			sid = strings.TrimRight(f, ")")
		}
	}
	got := in.GetCall(sid)
	if len(got.Turns) < 3 || !got.Turns[2].Interrupted || !strings.HasPrefix(got.Turns[2].Text, "We are") {
		t.Errorf("turns = %+v", got.Turns)
	}
}
