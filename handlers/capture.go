package handlers

import "github.com/gofiber/fiber/v2"

// captureWebhook hands webhooks and their responses to the capture hook
// (CAPTURE_DIR), after the handler chain ran, errors included: those that
// passed the signature check (every one when checks are off), and refused
// ones only when Deps.CaptureRefused says so.
func (s *Server) captureWebhook(c *fiber.Ctx) error {
	if s.capture == nil || c.Method() != fiber.MethodPost {
		// Fixtures are webhooks; the relay socket's upgrade is not one.
		return c.Next()
	}
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
		err = nil
	}
	if verified, _ := c.Locals(localVerified).(bool); verified || !s.signatures.Enabled() || s.captureAll {
		s.capture(c)
	}
	return err
}
