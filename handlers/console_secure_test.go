package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/handlers/console"
	"switchboard/storage/localfs"
	"switchboard/storage/memory"
)

// TestConsoleSecureCookies: outside development the console's cookies are
// Secure, carry the __Host- prefix (set by this host, for the whole site,
// so no sibling subdomain can plant one) and pages send HSTS.
func TestConsoleSecureCookies(t *testing.T) {
	blobs, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	calls := memory.New()
	const token = "secure-api-token-0123456789"
	srv := handlers.New(handlers.Config{
		PublicBaseURL: "https://voice.example.com", APITokens: []string{token}, RequestTimeout: 3 * time.Second,
		Console:       console.Config{SessionKey: consoleKey, SessionTTL: time.Hour, Auth: console.AuthToken},
		SecureCookies: true,
	}, handlers.Deps{Calls: calls, Writes: calls, Blobs: blobs, Assistant: assistant.NewScripted()})
	app := srv.App(fiber.Config{})
	do := func(req *http.Request) *http.Response {
		t.Helper()
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	form := do(httptestRequest(http.MethodGet, "/console/sign-in", ""))
	body, _ := io.ReadAll(form.Body)
	nonce := nonceField.FindStringSubmatch(string(body))
	if form.Header.Get("Strict-Transport-Security") != "max-age=31536000" || nonce == nil {
		t.Fatalf("sign-in page: HSTS %q", form.Header.Get("Strict-Transport-Security"))
	}
	signInCookie := form.Header.Get("Set-Cookie")
	if !strings.HasPrefix(signInCookie, "__Host-switchboard_sign_in=") || !strings.Contains(signInCookie, "secure") {
		t.Errorf("sign-in cookie %q, want __Host- and Secure", signInCookie)
	}
	req := httptestRequest(http.MethodPost, "/console/sign-in", url.Values{"nonce": {nonce[1]}, "token": {token}}.Encode())
	req.Header.Set("Cookie", strings.SplitN(signInCookie, ";", 2)[0])
	resp := do(req)
	var session string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-switchboard_console=") {
			session = c
		}
	}
	for _, want := range []string{"secure", "HttpOnly", "SameSite=Strict", "path=/"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie lacks %s: %q (sign-in answered %d)", want, session, resp.StatusCode)
		}
	}
	// A cookie without the prefix, as a sibling subdomain could set, is
	// not a session.
	req = httptestRequest(http.MethodGet, "/console/calls", "")
	req.Header.Set("Cookie", strings.TrimPrefix(strings.SplitN(session, ";", 2)[0], "__Host-"))
	if resp := do(req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an unprefixed session cookie: %d, want a redirect to sign in", resp.StatusCode)
	}
	req.Header.Set("Cookie", strings.SplitN(session, ";", 2)[0])
	if resp := do(req); resp.StatusCode != http.StatusOK {
		t.Errorf("the session cookie: %d, want 200", resp.StatusCode)
	}
}

func httptestRequest(method, path, form string) *http.Request {
	req, err := http.NewRequest(method, "http://voice.example.com"+path, strings.NewReader(form))
	if err != nil {
		panic(err)
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}
