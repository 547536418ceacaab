package handlers

import "github.com/gofiber/fiber/v2"

// captureWebhook hands every webhook and its response to the capture hook
// (CAPTURE_DIR), after the handler chain ran, errors included.
func (s *Server) captureWebhook(c *fiber.Ctx) error {
	if s.capture == nil {
		return c.Next()
	}
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
		err = nil
	}
	s.capture(c)
	return err
}
