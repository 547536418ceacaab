package handlers

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/console"
)

// consoleSignInForm shows the sign-in form, with a fresh nonce vouched for
// by a short-lived cookie (signing in changes state like any other form).
func (s *Server) consoleSignInForm(c *fiber.Ctx) error {
	next := s.safeNext(c.Query("next"))
	if s.console.cfg.Auth == console.AuthOIDC {
		// The load balancer signs people in before they get here.
		return c.Redirect(next, http.StatusSeeOther)
	}
	return s.signInPage(c, http.StatusOK, next, "")
}

func (s *Server) signInPage(c *fiber.Ctx, status int, next, problem string) error {
	nonce, cookie := s.console.keys.SignInNonce(time.Now(), signInTTL)
	s.setCookie(c, signInCookie, cookie, signInTTL)
	return s.renderPage(c, status, "sign-in", console.Page{Title: "Sign in", Body: console.SignIn{
		Nonce: nonce, Next: next, Error: problem, Open: len(s.console.tokens) == 0,
	}})
}

// consoleSignIn checks the API token typed in the form and opens a
// session for it. The session remembers the token's fingerprint, never
// the token: it lasts while the token is in API_TOKENS, up to
// CONSOLE_SESSION_TTL.
func (s *Server) consoleSignIn(c *fiber.Ctx) error {
	if s.console.cfg.Auth == console.AuthOIDC {
		return newHTTPError(http.StatusNotFound, "not_found", "This console signs in through the load balancer.")
	}
	if err := checkFormRequest(c); err != nil {
		return err
	}
	next := s.safeNext(c.FormValue("next"))
	now := time.Now()
	if !s.console.keys.CheckSignInNonce(c.Cookies(s.console.cookieName(signInCookie)), c.FormValue("nonce"), now) {
		s.logger(c).Warn("console sign-in refused: missing or wrong sign-in nonce")
		return s.signInPage(c, http.StatusForbidden, next,
			"The sign-in form had expired or was not sent from this console. Type the token again.")
	}
	fp, ok := s.matchToken(c.FormValue("token"))
	if !ok {
		s.logger(c).Warn("console sign-in refused: unknown API token")
		return s.signInPage(c, http.StatusUnauthorized, next, "That is not one of the service's API tokens.")
	}
	sess := console.NewSession(fp, now, s.console.cfg.SessionTTL)
	s.setCookie(c, sessionCookie, s.console.keys.Seal(sess), s.console.cfg.SessionTTL)
	s.clearCookie(c, signInCookie)
	s.logger(c).Info("console sign-in", "token", s.console.tokens[fp])
	return c.Redirect(next, http.StatusSeeOther)
}

// matchToken returns the fingerprint of the API token typed, comparing it
// with every configured token in constant time (as the API does). With
// no token configured (development) anything signs in.
func (s *Server) matchToken(token string) (string, bool) {
	if len(s.cfg.APITokens) == 0 {
		return console.OpenFingerprint, true
	}
	match, fp := 0, ""
	for _, t := range s.cfg.APITokens {
		if subtle.ConstantTimeCompare([]byte(token), []byte(t)) == 1 {
			match, fp = 1, s.console.keys.Fingerprint(t)
		}
	}
	return fp, match == 1 && token != ""
}

// consoleSignOut ends the session in this browser. Behind the load
// balancer's OIDC sign-in it expires the load balancer's session cookies
// and goes on to the identity provider's logout page when one is set.
func (s *Server) consoleSignOut(c *fiber.Ctx) error {
	s.clearCookie(c, sessionCookie)
	if s.console.cfg.Auth != console.AuthOIDC {
		return c.Redirect(s.console.pages.Path("/console/sign-in"), http.StatusSeeOther)
	}
	for i := range 4 { // the load balancer shards a large session over up to four cookies
		c.Cookie(&fiber.Cookie{Name: "AWSELBAuthSessionCookie-" + itoa(i), Value: "", Path: "/",
			MaxAge: -1, Expires: time.Unix(0, 0), Secure: true, HTTPOnly: true})
	}
	if s.console.cfg.OIDC.LogoutURL != "" {
		return c.Redirect(s.console.cfg.OIDC.LogoutURL, http.StatusSeeOther)
	}
	return s.renderPage(c, http.StatusOK, "signed-out", console.Page{Title: "Signed out"})
}

// safeNext returns where to go after signing in: next when it is a
// console page of this service, else the call list. Anything else (a full
// URL, "//host", a backslash that some browsers read as a slash) could
// send people to another site from a link that looks like this one.
func (s *Server) safeNext(next string) string {
	home := s.console.pages.Path("/console/calls")
	prefix := s.basePath + "/console"
	if next == "" || len(next) > 2048 || strings.ContainsAny(next, "\\\r\n\t") || strings.Contains(next, "//") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") && path.Clean(u.Path) != u.Path {
		return home // "/console/../api" is another page once the browser resolves it
	}
	if u.Path != prefix && !strings.HasPrefix(u.Path, prefix+"/") || strings.HasPrefix(u.Path, prefix+"/sign-") {
		return home
	}
	return next
}
