// Package lambda runs the switchboard Fiber app as an AWS Lambda function
// behind API Gateway (REST APIs, payload 1.0), API Gateway HTTP APIs and
// Lambda function URLs (payload 2.0), or an Application Load Balancer target
// group (single- or multi-value header mode).
//
// It does not route events through aws-lambda-go-api-proxy's fiber adapter,
// although that is the usual choice. At v0.16.2 the adapter has no ALB
// support (and its net/http ALB path encodes ALB query strings twice), drops
// the Lambda context, splits every v2 header value at commas (so c.Get sees
// only the first part), answers 500 to an IPv6 source IP and resolves a
// source IP that is not an address through DNS, answers 504 to a path with a
// bare '%', and lets a decoded '?' or '#' in an HTTP API path cut the path
// short. Each of those is a wire-format detail, so this package converts the
// event straight into a fasthttp request, runs it through app.Handler() as
// the HTTP server would, and converts the fasthttp response back into the
// response shape of the event that carried it. The tests pin each case.
//
// The Lambda context reaches handlers as c.UserContext() through the
// UserContext middleware: the deadline (handlers stop work when it passes),
// cancellation, and the lambdacontext.LambdaContext whose request id
// RequestID returns for logs.
//
// Wiring, for a binary deployed as "bootstrap" on provided.al2023:
//
//	app := fiber.New(...)
//	app.Use(lambda.UserContext()) // first, so every handler sees the Lambda context
//	... register routes ...
//	awslambda.Start(lambda.NewHandler(app)) // github.com/aws/aws-lambda-go/lambda
package lambda

import (
	"context"
	"errors"
	"net"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// DefaultBodyLimit is the largest request body, after base64 decoding, that
// the adapter hands to the app. It matches the 1 MB an ALB accepts for a
// Lambda target; API Gateway allows more, but the webhooks need far less.
const DefaultBodyLimit = 1 << 20

// Handler is a Lambda function handler that answers API Gateway, HTTP API,
// function URL and ALB events with a Fiber app.
type Handler struct {
	app       *fiber.App
	handle    fasthttp.RequestHandler
	bodyLimit int
}

var _ awslambda.Handler = (*Handler)(nil)

// Option configures a Handler.
type Option func(*Handler)

// WithBodyLimit sets the largest decoded request body the app receives;
// larger requests are answered 413 by the app's error handler without
// reaching any route. Fiber's own BodyLimit is enforced by its listener,
// which Lambda does not use, so this is the only limit under Lambda.
func WithBodyLimit(n int) Option {
	return func(h *Handler) { h.bodyLimit = n }
}

// NewHandler returns a Lambda handler for app. Register every route (and
// UserContext as the first middleware) before calling it, as before
// app.Listen: it prepares the app's route tree once.
func NewHandler(app *fiber.App, opts ...Option) *Handler {
	h := &Handler{app: app, bodyLimit: DefaultBodyLimit}
	for _, o := range opts {
		o(h)
	}
	// Handler prepares the route tree; the server's handler is the app's
	// with whatever the app wrapped around it, as the HTTP listener serves.
	app.Handler()
	h.handle = app.Server().Handler
	return h
}

// ErrUnknownEvent is returned by Invoke for a payload that is none of the
// HTTP event shapes; the Lambda runtime reports it as an invocation error,
// since there is no response shape to answer in.
var ErrUnknownEvent = errors.New("lambda: payload is not an API Gateway, HTTP API, function URL or ALB event")

// Invoke answers one event. It returns an error only for a payload that is
// not an HTTP event at all; every HTTP event, however odd, gets an HTTP
// response in its own shape.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev, err := parseEvent(payload)
	if err != nil {
		return nil, err
	}

	fctx := new(fasthttp.RequestCtx)
	var empty fasthttp.Request
	fctx.Init(&empty, clientAddr(ev), nil)
	if alts := ev.altQueries(); len(alts) > 0 {
		ctx = context.WithValue(ctx, altTargetsKey{}, altTargets(h.routePath(ev), alts))
	}
	fctx.SetUserValue(lambdaContextKey{}, ctx)

	body, reqErr := h.buildRequest(&fctx.Request, ev)
	if reqErr != nil {
		h.answerError(fctx, reqErr)
	} else {
		fctx.Request.SetBodyRaw(body)
		if len(body) > 0 {
			// As on the wire, the app sees the length of the body it gets.
			fctx.Request.Header.SetContentLength(len(body))
		}
		h.handle(fctx)
	}
	return encodeResponse(ev, readResponse(fctx))
}

// answerError lets the app's own ErrorHandler render an error the adapter
// found before routing, exactly as Fiber's listener does for a body over
// its limit, so the response looks like the HTTP server's.
func (h *Handler) answerError(fctx *fasthttp.RequestCtx, err *fiber.Error) {
	c := h.app.AcquireCtx(fctx)
	defer h.app.ReleaseCtx(c)
	if h.app.ErrorHandler(c, err) != nil {
		_ = c.SendStatus(fiber.StatusInternalServerError)
	}
}

// clientAddr is the peer address the app sees through c.IP(): the source IP
// API Gateway reports, or for an ALB (which reports none) the right-most
// X-Forwarded-For entry, the one the load balancer itself appended.
func clientAddr(ev *event) net.Addr {
	if ip := net.ParseIP(ev.sourceIP()); ip != nil {
		return &net.TCPAddr{IP: ip}
	}
	if ip := net.ParseIP(lastForwardedFor(ev)); ip != nil {
		return &net.TCPAddr{IP: ip}
	}
	return &net.TCPAddr{IP: net.IPv4zero}
}
