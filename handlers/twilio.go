package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	twclient "github.com/twilio/twilio-go/client"

	"switchboard/storage"
)

const localForm = "form"

// twilioForm parses the webhook's form body once, into fresh strings that
// outlive the request buffer. Anything but a form-encoded POST within the
// size limit is refused before it reaches a handler.
func (s *Server) twilioForm(c *fiber.Ctx) error {
	if len(c.Body()) > s.cfg.MaxBody {
		return newHTTPError(http.StatusRequestEntityTooLarge, "too_large", "webhook body exceeds "+itoa(s.cfg.MaxBody)+" bytes")
	}
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(c.Get(fiber.HeaderContentType), ";", 2)[0]))
	if ct != fiber.MIMEApplicationForm {
		return newHTTPError(http.StatusUnsupportedMediaType, "unsupported_media_type", "webhooks must be application/x-www-form-urlencoded")
	}
	form, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return storage.Errorf(storage.ErrInvalid, "malformed form body")
	}
	c.Locals(localForm, form)
	if sid := form.Get("CallSid"); storage.ValidSID(sid, "CA") {
		s.setCallLogger(c, sid)
	}
	// Twilio gives a webhook 15 s in all; everything this request does,
	// store round trips and the assistant included, ends before that.
	ctx, cancel := context.WithTimeout(c.UserContext(), webhookBudget)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// webhookBudget bounds the whole of one webhook, leaving Twilio's 15 s
// limit a margin for the network.
const webhookBudget = 13 * time.Second

// finalWrite is kept free at the end of a turn for storing the answer.
const finalWrite = time.Second

func formOf(c *fiber.Ctx) url.Values {
	f, _ := c.Locals(localForm).(url.Values)
	return f
}

// verifySignature checks X-Twilio-Signature over the public URL Twilio used —
// the configured PUBLIC_BASE_URL plus the request URI, never the Host or
// forwarded headers, which a proxy or an attacker controls — and the POST
// parameters. A request that fails is answered 403 before anything is stored.
func (s *Server) verifySignature(c *fiber.Ctx) error {
	if s.cfg.AuthToken == "" {
		return c.Next()
	}
	sig := c.Get("X-Twilio-Signature")
	if sig == "" {
		return newHTTPError(http.StatusForbidden, "forbidden", "missing X-Twilio-Signature")
	}
	publicURL := strings.TrimRight(s.cfg.PublicBaseURL, "/") + string(c.Request().RequestURI())
	params := make(map[string]string)
	for k, v := range formOf(c) {
		params[k] = v[0]
	}
	for _, token := range []string{s.cfg.AuthToken, s.cfg.NextAuthToken} {
		if token == "" {
			continue
		}
		v := twclient.NewRequestValidator(token)
		if v.Validate(publicURL, params, sig) {
			return c.Next()
		}
	}
	return newHTTPError(http.StatusForbidden, "forbidden", "invalid X-Twilio-Signature")
}

// Parameter readers. Each returns an ErrInvalid error naming the parameter,
// so a malformed webhook gets a 400 that says what was wrong.

func requireSID(f url.Values, name, prefix string) (string, error) {
	v := f.Get(name)
	if v == "" {
		return "", storage.Errorf(storage.ErrInvalid, "missing parameter %s", name)
	}
	return v, storage.CheckSID(name, v, prefix)
}

// phone reads From/To: E.164 when Twilio could normalise it, otherwise a raw
// string such as "anonymous"; never rejected for its format, only its size.
func phone(f url.Values, name string) (string, error) {
	v := strings.TrimSpace(f.Get(name))
	if len(v) > 64 {
		return "", storage.Errorf(storage.ErrInvalid, "parameter %s is too long", name)
	}
	return v, nil
}

func optionalInt(f url.Values, name string, min, max int) (int, bool, error) {
	v := f.Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, false, storage.Errorf(storage.ErrInvalid, "parameter %s must be an integer from %d to %d", name, min, max)
	}
	return n, true, nil
}

// twilioTime parses Twilio's RFC 2822 timestamps ("Thu, 12 Feb 2026 11:48:25 +0000").
func twilioTime(f url.Values, name string) (time.Time, bool, error) {
	v := f.Get(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC().Truncate(time.Microsecond), true, nil
		}
	}
	return time.Time{}, false, storage.Errorf(storage.ErrInvalid, "parameter %s is not an RFC 2822 time", name)
}

func queryInt(c *fiber.Ctx, name string, def, min, max int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, storage.Errorf(storage.ErrInvalid, "query parameter %s must be an integer from %d to %d", name, min, max)
	}
	return n, nil
}

// sendTwiML answers a TwiML document with the content type Twilio expects.
func sendTwiML(c *fiber.Ctx, doc []byte) error {
	c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
	return c.Status(http.StatusOK).Send(doc)
}
