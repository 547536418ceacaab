package lambda

import (
	"context"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/gofiber/fiber/v2"
)

// lambdaContextKey is the fasthttp user value under which Invoke leaves the
// invocation's context. A user value, unlike a header, cannot be supplied
// by a client, and it carries the context itself: deadline, cancellation
// and the lambdacontext.LambdaContext with the request id.
type lambdaContextKey struct{}

// UserContext returns a middleware that makes c.UserContext() the Lambda
// invocation's context, so handlers stop work at the function's deadline
// and can log the Lambda request id (see RequestID). Install it with
// app.Use before any route. Outside Lambda it does nothing, so the same app
// runs unchanged as the HTTP server.
//
// Fiber's own user context is Background, and the Lambda runtime's context
// never reaches it on its own: app.Handler() takes a fasthttp request and
// nothing else.
func UserContext() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if ctx, ok := c.Locals(lambdaContextKey{}).(context.Context); ok {
			c.SetUserContext(ctx)
		}
		return c.Next()
	}
}

// RequestID returns the Lambda request id of the invocation ctx belongs to,
// or "" outside Lambda. Pass it c.UserContext().
func RequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

type altTargetsKey struct{}

// AltTargets returns the other request targets (path and query) an event's
// request may have had when Twilio signed its URL — REST and ALB events
// carry the query as a map, whose original order and escaping are lost — or
// nil outside Lambda. Pass it c.UserContext(); the app checks a signature
// against each after the target it routed.
func AltTargets(ctx context.Context) []string {
	t, _ := ctx.Value(altTargetsKey{}).([]string)
	return t
}

func altTargets(path string, queries []string) []string {
	out := make([]string, len(queries))
	for i, q := range queries {
		out[i] = escapePath(path) + "?" + q
	}
	return out
}
