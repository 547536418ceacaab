package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/gofiber/fiber/v2"

	"switchboard/runtime/lambda"
)

// echo is what the test app's /echo route reports about the request it got.
type echo struct {
	Method    string              `json:"method"`
	Path      string              `json:"path"`    // as routed, still encoded
	Decoded   string              `json:"decoded"` // decoded and normalised
	RawQuery  string              `json:"rawQuery"`
	Query     map[string][]string `json:"query"`
	Headers   map[string][]string `json:"headers"`
	Cookies   map[string]string   `json:"cookies"`
	Body      []byte              `json:"body"`
	IP        string              `json:"ip"`
	Host      string              `json:"host"`
	RequestID string              `json:"requestId"`
	Deadline  time.Time           `json:"deadline"`
}

// testApp is a Fiber app with routes covering what the adapter must carry
// both ways; calls counts the requests that reached a route.
type testApp struct {
	app   *fiber.App
	calls atomic.Int64
}

// binaryBody is every byte value, so no text encoding survives it intact.
var binaryBody = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// largeBody is 600 KiB of binary data with a period that is not a power of two.
var largeBody = bytes.Repeat(append([]byte("switchboard\x00\xff"), binaryBody[:7]...), 600<<10/20)

// gzipJSON is a gzip member header followed by arbitrary bytes: the adapter
// must base64 it because of Content-Encoding, whatever Content-Type says.
var gzipJSON = []byte{0x1f, 0x8b, 0x08, 0x00, 'a', 'b', 0xc3}

func newTestApp() *testApp {
	ta := &testApp{app: fiber.New()}
	app := ta.app
	app.Use(lambda.UserContext())
	app.Use(func(c *fiber.Ctx) error {
		ta.calls.Add(1)
		return c.Next()
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.All("/echo*", func(c *fiber.Ctx) error { return c.JSON(echoOf(c)) })
	app.Post("/form", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"From": c.FormValue("From"), "Body": c.FormValue("Body")})
	})
	app.Get("/binary", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		return c.Send(binaryBody)
	})
	app.Get("/large", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		return c.Send(largeBody)
	})
	app.Get("/large-text", func(c *fiber.Ctx) error {
		return c.SendString(strings.Repeat("twelve bytes", 50<<10))
	})
	app.Get("/latin1", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/plain; charset=iso-8859-1")
		return c.Send([]byte("caf\xe9"))
	})
	app.Get("/gzip", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(gzipJSON)
	})
	app.Get("/cookies", func(c *fiber.Ctx) error {
		expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		c.Cookie(&fiber.Cookie{Name: "session", Value: "abc", Path: "/", HTTPOnly: true, Expires: expires})
		c.Cookie(&fiber.Cookie{Name: "flag", Value: "on"})
		c.Cookie(&fiber.Cookie{Name: "theme", Value: "dark", MaxAge: 60})
		c.Set("Vary", "Accept")
		c.Append("Vary", "Cookie")
		return c.SendString("three cookies")
	})
	app.Get("/empty", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusOK) })
	app.Get("/nothing", func(c *fiber.Ctx) error { return nil })
	app.Delete("/item", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) })
	app.Get("/slow", func(c *fiber.Ctx) error {
		<-c.UserContext().Done()
		return c.Status(http.StatusGatewayTimeout).SendString(c.UserContext().Err().Error())
	})
	return ta
}

func echoOf(c *fiber.Ctx) echo {
	e := echo{
		Method:   c.Method(),
		Path:     c.Path(),
		Decoded:  string(c.Request().URI().Path()),
		RawQuery: string(c.Request().URI().QueryString()),
		Query:    map[string][]string{},
		Headers:  map[string][]string{},
		Cookies:  map[string]string{},
		Body:     bytes.Clone(c.Body()),
		IP:       c.IP(),
		Host:     c.Hostname(),
	}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		e.Query[string(k)] = append(e.Query[string(k)], string(v))
	})
	c.Request().Header.VisitAll(func(k, v []byte) {
		e.Headers[string(k)] = append(e.Headers[string(k)], string(v))
	})
	c.Request().Header.VisitAllCookie(func(k, v []byte) {
		e.Cookies[string(k)] = string(v)
	})
	ctx := c.UserContext()
	e.RequestID = lambda.RequestID(ctx)
	e.Deadline, _ = ctx.Deadline()
	return e
}

// lambdaContext is an invocation context as the Lambda runtime builds it:
// the request id in a lambdacontext.LambdaContext, and a deadline.
func lambdaContext(t testing.TB, requestID string, timeout time.Duration) (context.Context, time.Time) {
	t.Helper()
	deadline := time.Now().Add(timeout).Truncate(time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID}), deadline
}

func decodeEcho(t *testing.T, r result) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("echo body %q: %v", r.Body, err)
	}
	return e
}
