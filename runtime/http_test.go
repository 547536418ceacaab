package runtime_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/runtime"
)

// TestDrain: SIGTERM (ctx cancelled) while a slow request is in flight.
// Readiness turns 503 at once, requests keep being served during the drain
// delay, the slow request completes with 200, and after the drain the
// listener refuses connections.
func TestDrain(t *testing.T) {
	cfg := runtime.Config{
		ListenAddr: "127.0.0.1:0", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: 75 * time.Second, BodyLimit: 1 << 16,
		DrainDelay: 700 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
	}
	var draining atomic.Bool
	slowStarted := make(chan struct{})
	finishSlow := make(chan struct{})
	app := fiber.New(runtime.FiberConfig(cfg))
	app.Get("/readyz", func(c *fiber.Ctx) error {
		if draining.Load() {
			return c.SendStatus(http.StatusServiceUnavailable)
		}
		return c.SendStatus(http.StatusOK)
	})
	app.Get("/slow", func(c *fiber.Ctx) error {
		close(slowStarted)
		<-finishSlow
		return c.SendString("done")
	})
	srv, err := runtime.Listen(cfg, app, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnDrain = func() { draining.Store(true) }
	base := "http://" + srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	get := func(path string) (int, string, error) {
		client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if st, _, err := get("/readyz"); err != nil || st != 200 {
		t.Fatalf("ready before shutdown: %d %v", st, err)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() { st, b, err := get("/slow"); slow <- result{st, b, err} }()
	<-slowStarted
	cancel() // SIGTERM

	waitFor(t, "readiness 503 during the drain", func() bool {
		st, _, err := get("/readyz")
		return err == nil && st == http.StatusServiceUnavailable
	})
	// Let the drain delay pass with the slow request still running, then
	// let it finish: shutdown must have waited for it.
	time.Sleep(cfg.DrainDelay + 200*time.Millisecond)
	close(finishSlow)
	r := <-slow
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("slow request: %d %q %v", r.status, r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	conn, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("new connections are still accepted after shutdown")
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("dial error %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := runtime.Config{ListenAddr: ":8080", ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: 75 * time.Second,
		BodyLimit: 65536, DrainDelay: time.Second, ShutdownTimeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := ok
	bad.ListenAddr = "8080"
	bad.IdleTimeout = 30 * time.Second
	bad.TrustedProxies = []string{"10.0.0.0/33"}
	err := bad.Validate()
	for _, name := range []string{"LISTEN_ADDR", "HTTP_IDLE_TIMEOUT", "TRUSTED_PROXIES"} {
		if err == nil || !contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}
