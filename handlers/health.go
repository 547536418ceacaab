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

// readyz answers 200 when the instance can answer calls: it is not
// draining and the call store is reachable. The load balancer routes by it.
// The blob store's health is reported in the body and in metrics but never
// fails readiness: archiving retries until S3 is back, and an S3 outage
// must not make the load balancer (or an ELB-health-checked Auto Scaling
// group) take every healthy instance out of service.
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
	s.metrics.up.WithLabelValues("calls").Set(boolGauge(checks["calls"] == "ok"))
	if p, ok := s.blobs.(storage.Pinger); ok {
		checks["blobs"] = "ok"
		if err := p.Ping(ctx); err != nil {
			checks["blobs"] = "unavailable"
			s.logger(c).Warn("readiness: blob store unavailable; still ready, archiving will retry", "err", err.Error())
		}
		s.metrics.up.WithLabelValues("blobs").Set(boolGauge(checks["blobs"] == "ok"))
	}
	status := http.StatusOK
	checks["status"] = "ready"
	if !ready {
		status = http.StatusServiceUnavailable
		checks["status"] = "not ready"
	}
	return c.Status(status).JSON(checks)
}

func boolGauge(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
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
