package assistant

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/storage"
)

// stubProvider answers from a list of results, one per attempt; the last
// one repeats. delay simulates the model's latency and honours ctx.
type stubProvider struct {
	mu      sync.Mutex
	results []stubResult
	calls   int
	delay   time.Duration
}

type stubResult struct {
	resp ChatResponse
	err  error
}

func (s *stubProvider) Chat(ctx context.Context, _ ChatRequest) (ChatResponse, error) {
	s.mu.Lock()
	r := s.results[min(s.calls, len(s.results)-1)]
	s.calls++
	s.mu.Unlock()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ChatResponse{}, ctx.Err()
		}
	}
	return r.resp, r.err
}

func (s *stubProvider) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func mustResilient(t *testing.T, p Provider, tune func(*ModelConfig)) *Resilient {
	t.Helper()
	c := DefaultModelConfig()
	if tune != nil {
		tune(&c)
	}
	r, err := NewResilient("stub", "stub-model", p, Deps{Config: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewResilient: %v", err)
	}
	return r
}

var callerAsks = Conversation{CallSID: "CA" + strings.Repeat("c", 32), Turns: []storage.Turn{
	{Number: 0, Role: storage.RoleAssistant, Text: "Hello."},
	{Number: 1, Role: storage.RoleCaller, Text: "Are you open?"},
}}

func ok(text string) stubResult { return stubResult{resp: ChatResponse{Text: text}} }

func TestResilientRetryDecisions(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name      string
		first     error
		wantCalls int
		wantErr   string
	}{
		{"RequestTimeoutRetried", &StatusError{Status: http.StatusRequestTimeout}, 2, ""},
		{"BadGatewayRetried", &StatusError{Status: http.StatusBadGateway}, 2, ""},
		{"ConnectionRefusedRetried", netErr, 2, ""},
		{"RateLimitedWithRetryAfterMsRetried", &StatusError{Status: 429, RetryAfter: 50 * time.Millisecond}, 2, ""},
		{"UnauthorizedNotRetried", &StatusError{Status: http.StatusUnauthorized}, 1, "provider returned 401"},
		{"NotFoundNotRetried", &StatusError{Status: http.StatusNotFound}, 1, "provider returned 404"},
		{"MalformedNotRetried", &MalformedError{What: "x"}, 1, "provider returned a malformed response"},
		{"UnknownErrorNotRetried", errors.New("boom"), 1, "assistant request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &stubProvider{results: []stubResult{{err: tt.first}, ok("Yes, until six.")}}
			r := mustResilient(t, p, nil)
			got, err := r.Reply(context.Background(), callerAsks)
			if p.count() != tt.wantCalls {
				t.Errorf("provider called %d times, want %d", p.count(), tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil || got.Text != "Yes, until six." {
					t.Fatalf("Reply = %+v, %v; want the retried answer", got, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("Reply error %v, want ErrUnavailable %q", err, tt.wantErr)
			}
			if !errors.Is(err, tt.first) {
				t.Errorf("error %v does not keep its cause", err)
			}
		})
	}
}

func TestResilientCanceledByCaller(t *testing.T) {
	p := &stubProvider{results: []stubResult{ok("late")}, delay: time.Minute}
	r := mustResilient(t, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Reply(ctx, callerAsks)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		var me *ModelError
		if !errors.As(err, &me) || me.Msg != "assistant request canceled" || !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want a canceled ModelError", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Reply did not return after its context was canceled")
	}
}

func TestResilientSummaryHasItsOwnDeadline(t *testing.T) {
	p := &stubProvider{
		results: []stubResult{ok(`{"summary":"Asked about hours.","reason":"hours","outcome":"answered","follow_up":false}`)},
		delay:   400 * time.Millisecond,
	}
	r := mustResilient(t, p, func(c *ModelConfig) {
		c.TurnTimeout = 100 * time.Millisecond
		c.AttemptTimeout = 100 * time.Millisecond
		c.SummaryTimeout = 30 * time.Second
	})
	t.Run("ReplyTimesOut", func(t *testing.T) {
		_, err := r.Reply(context.Background(), callerAsks)
		var me *ModelError
		if !errors.As(err, &me) || me.Outcome != OutcomeTimeout || err.Error() != "assistant timed out after 100ms" {
			t.Fatalf("Reply error %v, want a 100ms timeout", err)
		}
	})
	t.Run("SummaryOK", func(t *testing.T) {
		s, err := r.Summarize(context.Background(), callerAsks)
		if err != nil || s.Reason != "hours" || s.FollowUp {
			t.Fatalf("Summarize = %+v, %v", s, err)
		}
	})
}

func TestNewResilientRejectsBadConfig(t *testing.T) {
	c := DefaultModelConfig()
	c.TurnTimeout = 20 * time.Second
	_, err := NewResilient("stub", "m", &stubProvider{}, Deps{Config: c})
	if !errors.Is(err, storage.ErrInvalid) || !strings.Contains(err.Error(), "ASSISTANT_TURN_TIMEOUT") {
		t.Fatalf("error %v, want ErrInvalid naming ASSISTANT_TURN_TIMEOUT", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 2, 12, 11, 48, 25, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Absent", http.Header{}, 0},
		{"Seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{"Milliseconds", http.Header{"Retry-After-Ms": {"350"}, "Retry-After": {"1"}}, 350 * time.Millisecond},
		{"HTTPDate", http.Header{"Retry-After": {"Thu, 12 Feb 2026 11:48:28 GMT"}}, 3 * time.Second},
		{"PastDate", http.Header{"Retry-After": {"Thu, 12 Feb 2026 11:00:00 GMT"}}, 0},
		{"Garbage", http.Header{"Retry-After": {"soon"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.header, now); got != tt.want {
				t.Errorf("RetryAfter = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseSummary(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantText  string
		wantFU    bool
		malformed bool
	}{
		{"Object", `{"summary":"S.","reason":"r","outcome":"o","follow_up":true}`, "S.", true, false},
		{"FencedWithProse", "Sure:\n```json\n{\"summary\":\"S.\",\"reason\":\"r\",\"outcome\":\"o\",\"follow_up\":\"no\"}\n```", "S.", false, false},
		{"FollowUpMissing", `{"summary":"S.","reason":"r","outcome":"o"}`, "S.", false, false},
		{"MalformedNoObject", "The caller asked about hours.", "", false, true},
		{"MalformedBrokenJSON", `{"summary":"S.",`, "", false, true},
		{"MalformedEmptySummary", `{"summary":" ","reason":"r"}`, "", false, true},
		{"MalformedFollowUpNumber", `{"summary":"S.","follow_up":3}`, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSummary(tt.in)
			if tt.malformed {
				var me *MalformedError
				if !errors.As(err, &me) {
					t.Fatalf("ParseSummary error %v, want *MalformedError", err)
				}
				return
			}
			if err != nil || got.Text != tt.wantText || got.FollowUp != tt.wantFU {
				t.Fatalf("ParseSummary = %+v, %v", got, err)
			}
		})
	}
}

func TestFarewell(t *testing.T) {
	for in, want := range map[string]string{
		`{"farewell":" Bye now! "}`: "Bye now!",
		`{}`:                        "",
		`not json`:                  "",
	} {
		if got := Farewell([]byte(in)); got != want {
			t.Errorf("Farewell(%s) = %q, want %q", in, got, want)
		}
	}
}
