package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"switchboard/handlers/twiliosig"
	"switchboard/storage"
)

// What every request meets before any route: the checks that must happen
// before Fiber or a handler reads the body, and the public base path.

// guard wraps the app's request handler, below Fiber's router, for what
// Fiber would answer itself without the app's error shape or would get
// wrong: a request whose framing is ambiguous, and a method Fiber does not
// know. Both runtimes serve through it (the HTTP listener and the Lambda
// adapter use the server's handler).
func (s *Server) guard(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if ambiguousFraming(&ctx.Request.Header) {
			// Content-Length and Transfer-Encoding together is how
			// requests are smuggled past a proxy that reads the other
			// one: refuse and drop the connection, whose next bytes
			// cannot be trusted to start a request.
			s.rawError(ctx, http.StatusBadRequest, "invalid", "request has both Content-Length and Transfer-Encoding")
			ctx.SetConnectionClose()
			return
		}
		if !knownMethod(ctx.Method()) {
			s.rawError(ctx, http.StatusNotImplemented, "not_implemented", "this server does not implement that request method")
			return
		}
		next(ctx)
	}
}

// ambiguousFraming reports whether the request as read off the wire carried
// both a Content-Length and a Transfer-Encoding header. fasthttp reads such
// a body as chunked and forgets the length, so the raw header block is
// consulted, and only for chunked requests.
func ambiguousFraming(h *fasthttp.RequestHeader) bool {
	if h.ContentLength() != -1 {
		return false
	}
	for line := range bytes.SplitSeq(h.RawHeaders(), []byte("\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte(fiber.HeaderContentLength)) {
			return true
		}
	}
	return false
}

// knownMethod reports whether Fiber routes method (fiber.DefaultMethods).
// Fiber answers any other with a plain-text 400 of its own.
func knownMethod(m []byte) bool {
	for _, known := range fiber.DefaultMethods {
		if string(m) == known {
			return true
		}
	}
	return false
}

// methodLabel maps a request method to a constant metric label, one of
// fiber.DefaultMethods or "OTHER": a label value must never alias a request
// buffer, and unknown methods must not grow the label set.
func methodLabel(m string) string {
	for _, known := range fiber.DefaultMethods {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// rawError answers an error below Fiber in the app's error shape.
func (s *Server) rawError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: msg}})
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
	ctx.SetBody(body)
	s.metrics.requests.WithLabelValues("unmatched", "OTHER", itoa(status)).Observe(0)
	s.log.Warn("request refused", "status", status, "err", msg)
}

const localRawURI = "raw_uri"

// edge is the first middleware: it refuses compressed bodies before anything
// can inflate them, and routes a request under PUBLIC_BASE_URL's path on the
// rest of its path, keeping the request target as received for the
// signature check.
func (s *Server) edge(c *fiber.Ctx) error {
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for enc := range bytes.SplitSeq(v, []byte(",")) {
			if enc = bytes.TrimSpace(enc); len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
				// Twilio never compresses a webhook and the API takes no
				// bodies that need it; Fiber's c.Body() would inflate
				// without limit. Nothing here ever reads an encoded body.
				return newHTTPError(http.StatusUnsupportedMediaType, "unsupported_media_type",
					"Content-Encoding is not supported; send the body uncompressed")
			}
		}
	}
	if s.basePath != "" {
		if rest, ok := underBase(c.Path(), s.basePath); ok {
			c.Locals(localRawURI, string(c.Request().Header.RequestURI()))
			c.Path(rest)
		}
	}
	return c.Next()
}

// underBase returns path without the base path prefix, at a segment
// boundary ("/prod" does not prefix "/production").
func underBase(path, base string) (string, bool) {
	switch {
	case path == base:
		return "/", true
	case strings.HasPrefix(path, base+"/"):
		return path[len(base):], true
	}
	return "", false
}

// signedURLs returns the URLs Twilio may have signed for this request, most
// likely first: the public origin plus the request target exactly as
// received (a path that arrived without PUBLIC_BASE_URL's path — because API
// Gateway or a proxy removed it — gets it back), then any reconstructions the
// runtime reports (a query string rebuilt from a map), each with the
// apostrophe and port variants the SDKs accept. The set is bounded, so the
// cost of refusing a forged request is too.
func (s *Server) signedURLs(c *fiber.Ctx) []string {
	targets := make([]string, 0, 2)
	if raw, ok := c.Locals(localRawURI).(string); ok {
		targets = append(targets, raw)
	} else {
		targets = append(targets, string(c.Request().Header.RequestURI()))
	}
	if s.altTargets != nil {
		targets = append(targets, s.altTargets(c.UserContext())...)
	}
	var urls []string
	for _, t := range targets {
		full := s.origin + t
		if _, under := underBase(pathOf(t), s.basePath); s.basePath != "" && !under {
			full = s.origin + s.basePath + t
		}
		for _, u := range twiliosig.URLVariants(full) {
			if !slices.Contains(urls, u) {
				urls = append(urls, u)
			}
			if len(urls) == maxSignedURLs {
				return urls
			}
		}
	}
	return urls
}

// maxSignedURLs bounds the candidate URLs of one request (× tokens).
const maxSignedURLs = 32

func pathOf(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		return target[:i]
	}
	return target
}

// splitBaseURL splits PUBLIC_BASE_URL into its origin (scheme and host) and
// its path without a trailing slash ("" at the root).
func splitBaseURL(base string) (origin, path string) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" {
		return strings.TrimRight(base, "/"), ""
	}
	return u.Scheme + "://" + u.Host, strings.TrimRight(u.EscapedPath(), "/")
}

// notFound answers a request no route matched: 405 with Allow when the path
// exists for other methods, else 404.
func (s *Server) notFound(c *fiber.Ctx) error {
	if allow := s.allowed(c.Path()); len(allow) > 0 {
		c.Set(fiber.HeaderAllow, strings.Join(allow, ", "))
		return newHTTPError(http.StatusMethodNotAllowed, "method_not_allowed",
			"method "+methodLabel(c.Method())+" is not allowed here; allowed: "+strings.Join(allow, ", "))
	}
	return storage.Errorf(storage.ErrNotFound, "no route for %s %s", methodLabel(c.Method()), truncateLog(c.Path(), 200))
}

// allowed returns the methods routed for path, from the app's route table.
func (s *Server) allowed(path string) []string {
	var out []string
	for _, r := range s.routeTable {
		if matchRoute(r.Path, path) && !slices.Contains(out, r.Method) {
			out = append(out, r.Method)
		}
	}
	slices.Sort(out)
	return out
}

// matchRoute matches a registered pattern ("/api/v1/calls/:sid") against a
// request path segment by segment; a ":param" segment matches any
// non-empty segment.
func matchRoute(pattern, path string) bool {
	p := strings.Split(strings.Trim(pattern, "/"), "/")
	q := strings.Split(strings.Trim(path, "/"), "/")
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if strings.HasPrefix(p[i], ":") {
			if q[i] == "" {
				return false
			}
			continue
		}
		if !strings.EqualFold(p[i], q[i]) {
			return false
		}
	}
	return true
}
