package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Validate reports every problem with the HTTP settings at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("LISTEN_ADDR %q is not host:port", c.ListenAddr))
	}
	for name, d := range map[string]time.Duration{
		"HTTP_READ_TIMEOUT": c.ReadTimeout, "HTTP_WRITE_TIMEOUT": c.WriteTimeout, "HTTP_IDLE_TIMEOUT": c.IdleTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.IdleTimeout > 0 && c.IdleTimeout <= 60*time.Second {
		errs = append(errs, errors.New("HTTP_IDLE_TIMEOUT must exceed the load balancer's 60s idle timeout"))
	}
	if c.BodyLimit < 1024 || c.BodyLimit > 16<<20 {
		errs = append(errs, errors.New("HTTP_BODY_LIMIT must be from 1024 to 16777216 bytes"))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, errors.New("SHUTDOWN_DRAIN_DELAY must not be negative"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT must be positive"))
	}
	for _, p := range c.TrustedProxies {
		p = strings.TrimSpace(p)
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				errs = append(errs, fmt.Errorf("TRUSTED_PROXIES entry %q is not an IP or CIDR", p))
			}
		}
	}
	return errors.Join(errs...)
}

// FiberConfig returns the Fiber settings for the HTTP listener: timeouts
// (idle longer than the ALB's 60 s so the ALB, not the server, closes idle
// connections), the body limit, and client IPs taken from X-Forwarded-For
// only when the peer is a trusted proxy.
func FiberConfig(c Config) fiber.Config {
	fc := fiber.Config{
		ReadTimeout:           c.ReadTimeout,
		WriteTimeout:          c.WriteTimeout,
		IdleTimeout:           c.IdleTimeout,
		BodyLimit:             c.BodyLimit,
		DisableStartupMessage: true,
		// Values read from a request are copied where they outlive it;
		// Immutable would copy every one.
		Immutable: false,
	}
	if len(c.TrustedProxies) > 0 {
		fc.ProxyHeader = fiber.HeaderXForwardedFor
		fc.EnableTrustedProxyCheck = true
		fc.TrustedProxies = c.TrustedProxies
	}
	return fc
}

// Server runs a Fiber app on a TCP listener and drains it on shutdown.
type Server struct {
	cfg Config
	app *fiber.App
	ln  net.Listener
	log *slog.Logger
	// OnDrain is called when shutdown begins, before the drain delay: the
	// app's readiness should turn 503 so the load balancer stops routing.
	OnDrain func()
	// Settle is called once the HTTP server has stopped, to wait for what
	// outlives requests (streamed calls' WebSockets, which fasthttp
	// no longer tracks once upgraded).
	Settle func()

	mu     sync.Mutex
	unused map[net.Conn]struct{} // between requests: new or idle
}

// Listen binds the configured address (":0" picks a free port) and returns
// the server; Serve runs it.
func Listen(cfg Config, app *fiber.App, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.ListenAddr, err)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, app: app, ln: ln, log: log, unused: make(map[net.Conn]struct{})}
	// fasthttp's shutdown waits for connections that sit between requests
	// (keep-alive, or opened and never used, as load balancers and clients
	// do) until its read timeout; track those so shutdown closes them as
	// net/http's does.
	app.Server().ConnState = s.trackConn
	return s, nil
}

func (s *Server) trackConn(c net.Conn, state fasthttp.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == fasthttp.StateNew || state == fasthttp.StateIdle {
		s.unused[c] = struct{}{}
	} else {
		delete(s.unused, c)
	}
}

// closeUnused closes connections that are not serving a request.
func (s *Server) closeUnused() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.unused {
		_ = c.Close()
		delete(s.unused, c)
	}
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is cancelled (SIGTERM/SIGINT in main), then drains:
// readiness turns 503 (OnDrain), requests keep being served for DrainDelay
// while the load balancer deregisters the instance, then the listener
// closes and in-flight requests get up to ShutdownTimeout to finish. It
// returns nil after a clean drain.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(s.ln) }()
	s.log.Info("listening", "addr", s.ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutdown: draining", "drain_delay", s.cfg.DrainDelay.String())
	if s.OnDrain != nil {
		s.OnDrain()
	}
	select {
	case <-time.After(s.cfg.DrainDelay):
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	s.log.Info("shutdown: closing the listener and waiting for requests in flight", "timeout", s.cfg.ShutdownTimeout.String())
	// ShutdownWithTimeout closes the listener, then waits for requests in
	// flight; app.Listener returns as soon as it starts, so this call is
	// what must be waited on.
	done := make(chan error, 1)
	go func() { done <- s.app.ShutdownWithTimeout(s.cfg.ShutdownTimeout) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			s.closeUnused()
		}
	}
	if err != nil {
		return fmt.Errorf("http shutdown: requests still running after %s: %w", s.cfg.ShutdownTimeout, err)
	}
	<-errc
	s.log.Info("shutdown: http server stopped")
	if s.Settle != nil {
		s.Settle()
	}
	return nil
}
