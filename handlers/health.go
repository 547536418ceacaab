package handlers

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// healthz answers 200 while the process is alive.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 when the instance should receive traffic: not draining,
// and the call store and blob store reachable. The load balancer's health
// check points here.
func (s *Server) readyz(c *fiber.Ctx) error {
	checks := fiber.Map{}
	ready := true
	if s.draining.Load() {
		checks["draining"] = true
		ready = false
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks["calls"] = "ok"
	if err := s.calls.Ping(ctx); err != nil {
		checks["calls"] = "unavailable"
		ready = false
		s.logger(c).Warn("readiness: call store unavailable", "err", err.Error())
	}
	if p, ok := s.blobs.(storage.Pinger); ok {
		checks["blobs"] = "ok"
		if err := p.Ping(ctx); err != nil {
			checks["blobs"] = "unavailable"
			ready = false
			s.logger(c).Warn("readiness: blob store unavailable", "err", err.Error())
		}
	}
	status := http.StatusOK
	checks["status"] = "ready"
	if !ready {
		status = http.StatusServiceUnavailable
		checks["status"] = "not ready"
	}
	return c.Status(status).JSON(checks)
}

// requireToken admits /api requests carrying one of the configured bearer
// tokens. Every token is compared in constant time, so response timing says
// nothing about which prefix matched.
func (s *Server) requireToken(c *fiber.Ctx) error {
	if len(s.cfg.APITokens) == 0 {
		return c.Next()
	}
	h := c.Get(fiber.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return storage.Errorf(storage.ErrUnauthorized, "missing bearer token")
	}
	match := 0
	for _, t := range s.cfg.APITokens {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(t))
	}
	if match != 1 {
		return storage.Errorf(storage.ErrUnauthorized, "unknown bearer token")
	}
	return c.Next()
}
