package lambda_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"switchboard/runtime/lambda"
)

func TestLambdaContextReachesHandlers(t *testing.T) {
	h, _ := mustHandler(t)
	for _, s := range shapes {
		t.Run(s.name+"/RequestIDAndDeadlineVisible", func(t *testing.T) {
			ctx, deadline := lambdaContext(t, "req-"+s.name, time.Minute)
			e := decodeEcho(t, mustInvoke(t, h, ctx, s.build(get)))
			if e.RequestID != "req-"+s.name || !e.Deadline.Equal(deadline) {
				t.Fatalf("request id %q deadline %v; want %q %v", e.RequestID, e.Deadline, "req-"+s.name, deadline)
			}
		})
	}
	t.Run("ClientHeadersCannotSupplyIt", func(t *testing.T) {
		ev := restEvent(request{method: "GET", path: "/echo", ip: "203.0.113.5", headers: [][2]string{
			{"Lambda-Runtime-Aws-Request-Id", "forged"}, {"Lambda-Runtime-Deadline-Ms", "1"},
		}})
		e := decodeEcho(t, mustInvoke(t, h, context.Background(), ev))
		if e.RequestID != "" || !e.Deadline.IsZero() {
			t.Fatalf("request id %q deadline %v from headers; want none", e.RequestID, e.Deadline)
		}
	})
	t.Run("MiddlewareInertOverHTTP", func(t *testing.T) {
		ta := newTestApp()
		resp, err := ta.app.Test(httptest.NewRequest(http.MethodGet, "/echo", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e echo
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || e.RequestID != "" || !e.Deadline.IsZero() {
			t.Fatalf("status %d request id %q deadline %v; want 200 and no Lambda context", resp.StatusCode, e.RequestID, e.Deadline)
		}
	})
}

func TestHandlerStopsAtDeadline(t *testing.T) {
	h, _ := mustHandler(t)
	for _, s := range shapes {
		t.Run(s.name+"/Answered504AfterDeadline", func(t *testing.T) {
			ctx, deadline := lambdaContext(t, "req-slow", 200*time.Millisecond)
			payload := mustJSON(t, s.build(request{method: "GET", path: "/slow", ip: "203.0.113.5"}))
			done := make(chan []byte, 1)
			go func() {
				out, err := h.Invoke(ctx, payload)
				if err != nil {
					t.Error(err)
				}
				done <- out
			}()
			select {
			case out := <-done:
				got := parseResult(t, out)
				if got.Status != http.StatusGatewayTimeout || string(got.Body) != context.DeadlineExceeded.Error() {
					t.Fatalf("got %d %q, want 504 %q", got.Status, got.Body, context.DeadlineExceeded)
				}
				if time.Now().Before(deadline) {
					t.Fatalf("answered before the deadline %v", deadline)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("handler still blocked 30 s after its deadline")
			}
		})
	}
}

func TestRequestIDOutsideLambdaEmpty(t *testing.T) {
	if id := lambda.RequestID(context.Background()); id != "" {
		t.Fatalf("RequestID = %q, want empty", id)
	}
}
