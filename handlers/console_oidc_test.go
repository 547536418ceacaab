package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/console"
	"switchboard/handlers/console/albtest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// TestConsoleOIDC: behind the load balancer's OIDC sign-in, the console
// takes the person the load balancer asserts, if on the allow-list, and
// only on /console: the API never reads the header.
func TestConsoleOIDC(t *testing.T) {
	alb := albtest.New(t)
	in := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) {
		c.Console.SessionKey = consoleKey
		c.Console.Auth = console.AuthOIDC
		c.Console.OIDC = console.OIDCConfig{ALBARN: albtest.ARN, KeyURL: alb.KeyURL, AllowedDomains: []string{"example.com"},
			GroupsClaim: "groups", LogoutURL: "https://idp.example.com/logout"}
	}})
	call := endedCall(t, in)
	ada := alb.Assertion(map[string]any{"sub": "ada-1", "email": "ada@example.com"})
	as := func(method, path, assertion string, form url.Values) page {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, in.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if assertion != "" {
			req.Header.Set(console.OIDCHeader, assertion)
		}
		return send(t, browserClient(t), req)
	}

	t.Run("OK", func(t *testing.T) {
		p := as(http.MethodGet, "/console/calls", ada, nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, "ada@example.com") || !strings.Contains(p.body, call.CallSID) {
			t.Errorf("signed in through the load balancer: %d\n%s", p.status, p.body)
		}
	})
	for name, tc := range map[string]struct {
		assertion string
		want      int
	}{
		"ErrNoAssertion": {"", http.StatusUnauthorized},
		"ErrForged":      {strings.Replace(ada, ".", "x.", 1), http.StatusUnauthorized},
		"ErrExpired": {alb.Sign(alb.Header(time.Now().Add(-time.Minute)),
			map[string]any{"sub": "ada-1", "email": "ada@example.com"}), http.StatusUnauthorized},
		"ErrNotAllowed": {alb.Assertion(map[string]any{"sub": "eve", "email": "eve@example.net"}), http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			p := as(http.MethodGet, "/console/calls", tc.assertion, nil)
			if p.status != tc.want || strings.Contains(p.body, call.CallSID) || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%d, want %d and no calls", p.status, tc.want)
			}
		})
	}
	t.Run("OnlyThePathsTheLoadBalancerAuthenticates", func(t *testing.T) {
		for _, path := range []string{"/CONSOLE/calls", "/Console/calls", "/%63onsole/calls"} {
			req, err := http.NewRequest(http.MethodGet, in.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = path // sent exactly so
			req.Header.Set(console.OIDCHeader, ada)
			if p := send(t, browserClient(t), req); p.status != http.StatusNotFound || strings.Contains(p.body, call.CallSID) {
				t.Errorf("GET %s: %d, want 404 (the load balancer's rule does not match it)", path, p.status)
			}
		}
	})
	t.Run("IgnoredOutsideTheConsole", func(t *testing.T) {
		for _, path := range []string{"/api/v1/calls", "/api/v1/calls/" + call.CallSID, "/metrics"} {
			if p := as(http.MethodGet, path, ada, nil); p.status != http.StatusUnauthorized {
				t.Errorf("GET %s with a valid assertion and no bearer token: %d, want 401", path, p.status)
			}
		}
		if p := as(http.MethodDelete, "/api/v1/calls/"+call.CallSID, ada, nil); p.status != http.StatusUnauthorized {
			t.Errorf("DELETE with a valid assertion: %d, want 401", p.status)
		}
	})
	t.Run("CSRF", func(t *testing.T) {
		p := as(http.MethodGet, "/console/calls/"+call.CallSID+"/delete", ada, nil)
		csrf := field(t, csrfField, p)
		bob := alb.Assertion(map[string]any{"sub": "bob-2", "email": "bob@example.com"})
		if p := as(http.MethodPost, "/console/calls/"+call.CallSID+"/delete", bob, url.Values{"csrf": {csrf}}); p.status != http.StatusForbidden {
			t.Errorf("Ada's form posted as Bob: %d, want 403", p.status)
		}
		if p := as(http.MethodPost, "/console/calls/"+call.CallSID+"/delete", ada, url.Values{}); p.status != http.StatusForbidden {
			t.Errorf("a form without its token: %d, want 403", p.status)
		}
		if p := as(http.MethodPost, "/console/calls/"+call.CallSID+"/delete", ada, url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
			t.Errorf("delete: %d, want 303", p.status)
		}
	})
	t.Run("NoTokenSignIn", func(t *testing.T) {
		if p := as(http.MethodPost, "/console/sign-in", "", url.Values{"token": {servicetest.APIToken}}); p.status != http.StatusNotFound {
			t.Errorf("a token sign-in in OIDC mode: %d, want 404", p.status)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		csrf := field(t, csrfField, as(http.MethodGet, "/console/calls", ada, nil))
		p := as(http.MethodPost, "/console/sign-out", ada, url.Values{"csrf": {csrf}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "https://idp.example.com/logout" {
			t.Errorf("sign out: %d to %q", p.status, p.header.Get("Location"))
		}
		expired := 0
		for _, c := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "AWSELBAuthSessionCookie-") && strings.Contains(c, "expires=Thu, 01 Jan 1970 00:00:00 GMT") {
				expired++
			}
		}
		if expired != 4 {
			t.Errorf("sign out expired %d of the load balancer's cookies, want 4: %q", expired, p.header.Values("Set-Cookie"))
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://idp.example.com;") {
			t.Errorf("the CSP does not let sign-out reach the identity provider: %s", csp)
		}
	})
}
