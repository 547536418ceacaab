package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/console"
	"switchboard/storage"
)

// The web console: pages for the people who review calls, under /console.
// It has its own sign-in (a session cookie, or the load balancer's OIDC
// assertion) and never shares it with the API, which stays bearer-only: a
// cookie that opened /api would let any site a reviewer visits send the
// API's DELETE in their name.

const (
	localConsole     = "console"
	localConsoleUser = "console_user"
)

// consoleState is what the console keeps for the life of the Server.
type consoleState struct {
	cfg      console.Config
	secure   bool
	pages    *console.Renderer
	keys     *console.Keys
	verifier *console.Verifier
	// tokens maps each API token's fingerprint to its position in
	// API_TOKENS (from 1), which is how a session names its token.
	tokens map[string]int

	// media is the origin presigned audio links point at, found on first
	// use (presigning may need credentials the instance fetches).
	mediaMu sync.Mutex
	media   string
	mediaOK bool
}

// consoleUser is the person a console request is made by.
type consoleUser struct {
	// CSRF is the token their forms carry.
	CSRF string
	// Who names them on the page.
	Who string
}

// Cookie names. With Secure cookies the __Host- prefix makes the browser
// refuse the cookie unless it was set by this host over HTTPS for the
// whole site, so no sibling subdomain can plant a session or a sign-in
// nonce of its choosing.
func (cs *consoleState) cookieName(base string) string {
	if cs.secure {
		return "__Host-" + base
	}
	return base
}

const (
	sessionCookie = "switchboard_console"
	signInCookie  = "switchboard_sign_in"
	signInTTL     = time.Hour
)

// newConsole builds the console's state from the configuration. The
// configuration has been validated (runtime/service), so what fails here
// is a programming error.
func newConsole(cfg Config, basePath string) *consoleState {
	pages, err := console.NewRenderer(basePath)
	if err != nil {
		panic("handlers: " + err.Error())
	}
	key := []byte(cfg.Console.SessionKey)
	if len(key) == 0 {
		key = console.RandomKey() // development: sessions last as long as the process
	}
	cs := &consoleState{cfg: cfg.Console, secure: cfg.SecureCookies, pages: pages, keys: console.NewKeys(key),
		tokens: map[string]int{}}
	if cs.cfg.SessionTTL <= 0 {
		cs.cfg.SessionTTL = 12 * time.Hour
	}
	for i, t := range cfg.APITokens {
		cs.tokens[cs.keys.Fingerprint(t)] = i + 1
	}
	if cs.cfg.Auth == console.AuthOIDC {
		v, err := console.NewVerifier(cs.cfg.OIDC, nil, nil)
		if err != nil {
			panic("handlers: " + err.Error())
		}
		cs.verifier = v
	}
	return cs
}

// consoleRequest marks a request as the console's, so its errors are
// pages, and sets the headers every console response carries: a
// Content-Security-Policy that allows no inline script, no framing and
// media only from this origin and the blob store's; no caching, since
// the pages show calls; no referrer, since the URLs name calls.
func (s *Server) consoleRequest(c *fiber.Ctx) error {
	c.Locals(localConsole, true)
	c.Set(fiber.HeaderContentSecurityPolicy, s.consoleCSP(c.UserContext()))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set(fiber.HeaderPermissionsPolicy, "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if s.console.secure {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	}
	return c.Next()
}

// consoleCSP is the console's Content-Security-Policy. Audio comes from
// this origin (streamed) or, when the blob store presigns links, from the
// store's origin, to which the audio route redirects.
func (s *Server) consoleCSP(ctx context.Context) string {
	media := "'self'"
	if o := s.mediaOrigin(ctx); o != "" {
		media += " " + o
	}
	form := "'self'"
	if u, err := url.Parse(s.console.cfg.OIDC.LogoutURL); s.console.cfg.Auth == console.AuthOIDC && err == nil && u.Host != "" {
		// Sign out ends at the identity provider: a form's redirect
		// target is held to form-action too.
		form += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src " + media +
		"; connect-src 'self'; form-action " + form + "; frame-ancestors 'none'; base-uri 'none'"
}

// mediaOrigin is the origin of the blob store's presigned links ("" when
// it streams through this service), learnt by presigning a link, which
// makes no request to the store.
func (s *Server) mediaOrigin(ctx context.Context) string {
	p, ok := s.blobs.(storage.Presigner)
	if !ok {
		return ""
	}
	cs := s.console
	cs.mediaMu.Lock()
	defer cs.mediaMu.Unlock()
	if cs.mediaOK {
		return cs.media
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	link, err := p.PresignGet(ctx, "recordings/origin.wav", s.cfg.RecordingURLTTL)
	if err != nil {
		s.log.Warn("console: cannot presign a link to learn the media origin; audio may not play", "err", err.Error())
		return ""
	}
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		return ""
	}
	cs.media, cs.mediaOK = u.Scheme+"://"+u.Host, true
	return cs.media
}

// consoleAuth admits a signed-in person and sends anyone else to sign in.
func (s *Server) consoleAuth(c *fiber.Ctx) error {
	if s.console.cfg.Auth == console.AuthOIDC {
		return s.consoleOIDC(c)
	}
	cs := s.console
	sess, err := cs.keys.Open(c.Cookies(cs.cookieName(sessionCookie)), time.Now())
	n, known := cs.tokens[sess.Fingerprint]
	open := len(cs.tokens) == 0 && sess.Fingerprint == console.OpenFingerprint
	if err == nil && !known && !open {
		err = errRevoked
	}
	if err != nil {
		if !errors.Is(err, console.ErrNoSession) {
			s.logger(c).Info("console session refused", "reason", err.Error())
			s.clearCookie(c, sessionCookie)
		}
		return s.toSignIn(c)
	}
	who := "API token " + strconv.Itoa(n)
	if open {
		who = "development (no API token)"
	}
	c.Locals(localConsoleUser, consoleUser{CSRF: sess.CSRF, Who: who})
	return c.Next()
}

var errRevoked = errors.New("the session's API token is no longer in API_TOKENS")

// consoleOIDC admits the person the load balancer signed in, if they are
// on the allow-list. The assertion is read on /console only: every other
// path ignores the header.
func (s *Server) consoleOIDC(c *fiber.Ctx) error {
	// The load balancer authenticates the paths that match "/console*" as
	// sent, case and escapes included, while the router also takes
	// "/CONSOLE/…" and "/%63onsole/…" here: those never passed the
	// load balancer's sign-in, so they are not the console.
	raw, ok := c.Locals(localRawURI).(string)
	if !ok {
		raw = string(c.Request().Header.RequestURI())
	}
	if !strings.HasPrefix(raw, "/console") && !strings.HasPrefix(raw, s.basePath+"/console") {
		return storage.Errorf(storage.ErrNotFound, "no such page")
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	id, err := s.console.verifier.Verify(ctx, c.Get(console.OIDCHeader))
	switch {
	case errors.Is(err, console.ErrNotAllowed):
		s.logger(c).Warn("console: signed-in person not on the allow-list", "subject", id.Subject)
		return newHTTPError(http.StatusForbidden, "forbidden",
			"You are signed in as "+nonEmpty(id.Email, id.Subject)+", but the console's allow-list does not include you. Ask an administrator.")
	case errors.Is(err, console.ErrKeys):
		s.logger(c).Error("console: cannot verify the load balancer's assertion", "err", err.Error())
		return storage.Errorf(storage.ErrUnavailable, "the sign-in could not be checked just now; try again in a minute")
	case err != nil:
		s.logger(c).Warn("console: assertion refused", "err", err.Error())
		return newHTTPError(http.StatusUnauthorized, "unauthorized",
			"This page must be reached through the load balancer, which signs you in.")
	}
	subject := "oidc:" + nonEmpty(id.Subject, id.Email)
	c.Locals(localConsoleUser, consoleUser{CSRF: s.console.keys.OIDCToken(subject), Who: nonEmpty(id.Email, nonEmpty(id.Name, id.Subject))})
	return c.Next()
}

func nonEmpty(s, otherwise string) string {
	if s != "" {
		return s
	}
	return otherwise
}

// consoleCSRF admits a form only from a page of this console: the
// browser says where the request came from (Sec-Fetch-Site), and the form
// must carry the session's token, which no other site can read.
func (s *Server) consoleCSRF(c *fiber.Ctx) error {
	if err := checkFormRequest(c); err != nil {
		return err
	}
	u, _ := c.Locals(localConsoleUser).(consoleUser)
	if !console.SameToken(u.CSRF, c.FormValue("csrf")) {
		s.logger(c).Warn("console form refused: missing or wrong CSRF token")
		return newHTTPError(http.StatusForbidden, "forbidden",
			"This form was not sent from a page of this console, or the page was older than your session. Go back, reload the page and try again.")
	}
	return c.Next()
}

// checkFormRequest refuses a form post that a browser says came from
// another site, and any body but a plain form (nothing here reads
// multipart bodies, whose parsing costs more than their size).
func checkFormRequest(c *fiber.Ctx) error {
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return newHTTPError(http.StatusForbidden, "forbidden", "Forms are accepted only from the console's own pages.")
	}
	ct, _, _ := strings.Cut(c.Get(fiber.HeaderContentType), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), fiber.MIMEApplicationForm) {
		return newHTTPError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the form as application/x-www-form-urlencoded.")
	}
	return nil
}

// toSignIn sends a request that is not signed in to the sign-in page,
// which brings the person back here afterwards.
func (s *Server) toSignIn(c *fiber.Ctx) error {
	target := s.console.pages.Path("/console/sign-in")
	if c.Method() == http.MethodGet {
		target += "?next=" + url.QueryEscape(s.basePath+string(c.Request().URI().RequestURI()))
	}
	return c.Redirect(target, http.StatusSeeOther)
}

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, Secure
// outside development.
func (s *Server) setCookie(c *fiber.Ctx, name, value string, ttl time.Duration) {
	c.Cookie(&fiber.Cookie{
		Name: s.console.cookieName(name), Value: value, Path: "/",
		MaxAge: int(ttl / time.Second), Expires: time.Now().Add(ttl),
		Secure: s.console.secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
	})
}

func (s *Server) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{
		Name: s.console.cookieName(name), Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		Secure: s.console.secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// renderPage answers with a console page.
func (s *Server) renderPage(c *fiber.Ctx, status int, name string, page console.Page) error {
	if u, ok := c.Locals(localConsoleUser).(consoleUser); ok {
		page.CSRF, page.Who = u.CSRF, u.Who
	}
	body, err := s.console.pages.Render(name, "", page)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(body)
}

// consoleProblem renders an error as a page; errorHandler calls it for
// console requests.
func (s *Server) consoleProblem(c *fiber.Ctx, status int, msg string) error {
	problem := console.Problem{Status: status, Message: msg, SignIn: status == http.StatusUnauthorized && s.console.cfg.Auth == console.AuthToken}
	body, err := s.console.pages.Render("problem", "", console.Page{Title: http.StatusText(status), Body: problem})
	if err != nil {
		return c.Status(http.StatusInternalServerError).SendString("internal error")
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(body)
}

// consoleAsset serves the console's style, script and icon under their
// content-hashed names, cacheable for a year.
func (s *Server) consoleAsset(c *fiber.Ctx) error {
	a, ok := s.console.pages.Asset(c.Params("name"))
	if !ok {
		return storage.Errorf(storage.ErrNotFound, "no such console asset")
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentType, a.ContentType)
	return c.Send(a.Body)
}

// consoleHome sends /console to the call list.
func (s *Server) consoleHome(c *fiber.Ctx) error {
	return c.Redirect(s.console.pages.Path("/console/calls"), http.StatusSeeOther)
}
