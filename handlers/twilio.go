package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/twiliosig"
	"switchboard/storage"
)

const (
	localForm = "form"
	// localCapture marks a webhook for the capture hook (see respond).
	localCapture = "capture"
)

// maxFormFields bounds the parameters of a webhook before anything is done
// with them. Twilio sends about 40.
const maxFormFields = 200

// twilioRequest admits a webhook: a form-encoded POST within the size limit,
// with at most maxFormFields parameters and a valid X-Twilio-Signature. The
// checks run cheapest first, so a forged or oversized request is refused at
// a cost bounded by its size: a missing or malformed signature before the
// body is parsed, the field count before the signature is computed, and the
// signed string built once for every candidate URL and token. The form is
// parsed into fresh strings that outlive the request buffer.
func (s *Server) twilioRequest(c *fiber.Ctx) error {
	if c.Method() != http.MethodPost {
		return c.Next() // no webhook route: 405
	}
	// CAPTURE_DIR keeps webhooks that pass the signature check (all of
	// them when checks are off); refused ones only when generating
	// fixtures, so unauthenticated senders cannot fill it.
	c.Locals(localCapture, s.captureAll || !s.signatures.Enabled())
	// The raw body: nothing on this path may decode a Content-Encoding.
	body := c.Request().Body()
	if len(body) > s.cfg.MaxBody {
		return newHTTPError(http.StatusRequestEntityTooLarge, "too_large", "webhook body exceeds "+itoa(s.cfg.MaxBody)+" bytes")
	}
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(c.Get(fiber.HeaderContentType), ";", 2)[0]))
	if ct != fiber.MIMEApplicationForm {
		return newHTTPError(http.StatusUnsupportedMediaType, "unsupported_media_type", "webhooks must be application/x-www-form-urlencoded")
	}
	sig := c.Get("X-Twilio-Signature")
	if s.signatures.Enabled() && sig == "" {
		return newHTTPError(http.StatusForbidden, "forbidden", "missing X-Twilio-Signature")
	}
	if n := bytes.Count(body, []byte("&")) + 1; n > maxFormFields {
		return newHTTPError(http.StatusRequestEntityTooLarge, "too_large", "webhook has more than "+itoa(maxFormFields)+" form fields")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return storage.Errorf(storage.ErrInvalid, "malformed form body")
	}
	if s.signatures.Enabled() {
		if !s.signatures.Check(sig, s.signedURLs(c), twiliosig.NewParams(form)) {
			return newHTTPError(http.StatusForbidden, "forbidden", "invalid X-Twilio-Signature")
		}
		c.Locals(localCapture, true)
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

// twilioTime parses Twilio's RFC 2822 timestamps ("Thu, 12 Feb 2026
// 11:48:25 +0000"; "Mon, 2 Feb 2026 …" with a one-digit day is as valid):
// the form Twilio sends with one layout, else with net/mail's RFC 5322
// date parser, which accepts every form the standard allows (and costs a
// status callback a sixteenth of its CPU); RFC 3339 is accepted too.
const twilioLayout = "Mon, 2 Jan 2006 15:04:05 -0700"

func twilioTime(f url.Values, name string) (time.Time, bool, error) {
	v := f.Get(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(twilioLayout, v)
	if err != nil {
		t, err = mail.ParseDate(v)
	}
	if err != nil {
		t, err = time.Parse(time.RFC3339, v)
	}
	if err != nil {
		return time.Time{}, false, storage.Errorf(storage.ErrInvalid, "parameter %s is not an RFC 2822 time", name)
	}
	return t.UTC().Truncate(time.Microsecond), true, nil
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
