package handlers

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDocument describes every route of the service (OpenAPI 3.1). The
// tests send real requests to every route and validate the responses
// against it, so it cannot drift from what the service answers.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 document of the service.
func OpenAPIDocument() []byte { return openAPIDocument }

// openAPI answers GET /api/v1/openapi.json.
func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(openAPIDocument)
}
