package lifecycle_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/runtime/lifecycle"
	"switchboard/runtime/lifecycle/imdstest"
)

func TestWatcherCallsLeavingOnceTheStateChanges(t *testing.T) {
	imds := imdstest.New()
	t.Cleanup(imds.Close)
	w := lifecycle.New(lifecycle.Config{PollInterval: 10 * time.Millisecond, IMDSEndpoint: imds.URL}, slog.New(slog.DiscardHandler))
	got := make(chan string, 2)
	done := make(chan struct{})
	go func() { w.Run(t.Context(), func(s string) { got <- s }); close(done) }()
	for imds.Reads.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case s := <-got:
		t.Fatalf("leaving(%q) while the instance is in service", s)
	default:
	}
	imds.SetState("Terminated")
	select {
	case s := <-got:
		if s != "Terminated" {
			t.Errorf("leaving(%q), want Terminated", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("leaving never called after the state became Terminated")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after calling leaving")
	}
}

func TestWatcherOffAndFailing(t *testing.T) {
	t.Run("Off", func(t *testing.T) {
		done := make(chan struct{})
		go func() {
			lifecycle.New(lifecycle.Config{}, nil).Run(t.Context(), func(string) { t.Error("leaving called with polling off") })
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run with polling off did not return")
		}
	})
	t.Run("ErrorsAreNotLeaving", func(t *testing.T) {
		// Not in an Auto Scaling group (404), oversized or empty answers,
		// and a refused token: polling goes on, nothing is said to leave.
		for name, h := range map[string]http.HandlerFunc{
			"NotFound":  func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			"Oversized": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 5000))) },
			"Empty": func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					_, _ = w.Write([]byte("t"))
				}
			},
			"Unauthorized": func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					_, _ = w.Write([]byte("t"))
					return
				}
				http.Error(w, "", http.StatusUnauthorized)
			},
		} {
			t.Run(name, func(t *testing.T) {
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				w := lifecycle.New(lifecycle.Config{PollInterval: 5 * time.Millisecond, IMDSEndpoint: srv.URL}, slog.New(slog.DiscardHandler))
				if _, err := w.State(t.Context()); err == nil {
					t.Error("State succeeded on a broken metadata service")
				}
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				defer cancel()
				w.Run(ctx, func(s string) { t.Errorf("leaving(%q) on a broken metadata service", s) })
			})
		}
	})
	t.Run("Validate", func(t *testing.T) {
		err := lifecycle.Config{PollInterval: -time.Second, IMDSEndpoint: "169.254.169.254"}.Validate()
		if err == nil || !strings.Contains(err.Error(), "LIFECYCLE_POLL_INTERVAL") || !strings.Contains(err.Error(), "IMDS_ENDPOINT") {
			t.Errorf("Validate = %v; want both problems", err)
		}
	})
}
