package handlers_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// consoleKey is the session key the console tests' instances share.
const consoleKey = "console-session-key-for-tests-0123456789"

// startConsole runs an instance whose console signs sessions with
// consoleKey and accepts the given API tokens (the test token when none).
func startConsole(t *testing.T, tokens ...string) *servicetest.Instance {
	t.Helper()
	return servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) {
		c.Console.SessionKey = consoleKey
		if len(tokens) > 0 {
			c.APITokens = tokens
		}
	}})
}

// browserClient is an HTTP client that keeps cookies as a browser does
// and does not follow redirects, so tests see where they lead.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status int
	header http.Header
	body   string
}

// get fetches path from base with client, as a page load (Sec-Fetch-Site none).
func get(t *testing.T, client *http.Client, base, path string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, client, req)
}

// post sends a form to path, as a page of the console does.
func post(t *testing.T, client *http.Client, base, path string, form url.Values, header ...string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, client, req)
}

func send(t *testing.T, client *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(b)}
}

var (
	nonceField = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func field(t *testing.T, re *regexp.Regexp, p page) string {
	t.Helper()
	m := re.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no %s in the page (%d):\n%s", re, p.status, p.body)
	}
	return m[1]
}

// signIn signs client in to the console at base with token and returns
// the CSRF token of its session's forms.
func signIn(t *testing.T, client *http.Client, base, token string) string {
	t.Helper()
	form := get(t, client, base, "/console/sign-in")
	p := post(t, client, base, "/console/sign-in", url.Values{"nonce": {field(t, nonceField, form)}, "token": {token}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/calls" {
		t.Fatalf("sign in: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	return field(t, csrfField, get(t, client, base, "/console/calls"))
}

// endedCall makes a call through the webhooks and ends it.
func endedCall(t *testing.T, in *servicetest.Instance) twiliotest.Call {
	t.Helper()
	call := twiliotest.NewCall(servicetest.AccountSID)
	if r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")); r.Status != http.StatusOK {
		t.Fatalf("voice: %d %s", r.Status, r.Body)
	}
	if r := in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "7")); r.Status != http.StatusNoContent {
		t.Fatalf("status: %d %s", r.Status, r.Body)
	}
	return call
}

func TestConsoleSignIn(t *testing.T) {
	in := startConsole(t)
	client := browserClient(t)

	t.Run("SignedOutGoesToSignIn", func(t *testing.T) {
		p := get(t, client, in.URL, "/console/calls?status=busy")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/sign-in?next=%2Fconsole%2Fcalls%3Fstatus%3Dbusy" {
			t.Errorf("signed out: %d to %q", p.status, p.header.Get("Location"))
		}
	})
	t.Run("ErrNoNonce", func(t *testing.T) {
		p := post(t, browserClient(t), in.URL, "/console/sign-in", url.Values{"token": {servicetest.APIToken}})
		if p.status != http.StatusForbidden || p.header.Get("Set-Cookie") == "" || strings.Contains(p.header.Get("Set-Cookie"), "switchboard_console=") {
			t.Errorf("sign-in without the form's nonce: %d, cookies %q", p.status, p.header.Values("Set-Cookie"))
		}
	})
	t.Run("ErrWrongToken", func(t *testing.T) {
		form := get(t, client, in.URL, "/console/sign-in")
		p := post(t, client, in.URL, "/console/sign-in", url.Values{"nonce": {field(t, nonceField, form)}, "token": {"wrong-token-0123456789abcdef"}})
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, `aria-invalid="true" aria-describedby="token-error"`) {
			t.Errorf("wrong token: %d\n%s", p.status, p.body)
		}
	})
	t.Run("ErrCrossSite", func(t *testing.T) {
		form := get(t, client, in.URL, "/console/sign-in")
		p := post(t, client, in.URL, "/console/sign-in", url.Values{"nonce": {field(t, nonceField, form)}, "token": {servicetest.APIToken}},
			"Sec-Fetch-Site", "cross-site")
		if p.status != http.StatusForbidden {
			t.Errorf("a sign-in posted from another site: %d", p.status)
		}
	})
	t.Run("OK", func(t *testing.T) {
		form := get(t, client, in.URL, "/console/sign-in?next=/console/live")
		p := post(t, client, in.URL, "/console/sign-in", url.Values{"nonce": {field(t, nonceField, form)}, "token": {servicetest.APIToken},
			"next": {"/console/live"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/live" {
			t.Fatalf("sign in: %d to %q", p.status, p.header.Get("Location"))
		}
		var session string
		for _, c := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "switchboard_console=") {
				session = c
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "max-age=43200", "path=/"} {
			if !strings.Contains(strings.ToLower(session), strings.ToLower(want)) {
				t.Errorf("session cookie lacks %s: %s", want, session)
			}
		}
		if strings.Contains(strings.ToLower(session), "secure") {
			t.Errorf("a development session cookie is Secure (the browser would drop it on http://localhost): %s", session)
		}
		if strings.Contains(session, servicetest.APIToken) {
			t.Errorf("the session cookie carries the API token: %s", session)
		}
		if p := get(t, client, in.URL, "/console/live"); p.status != http.StatusOK || !strings.Contains(p.body, "API token 1") {
			t.Errorf("signed in, the live view: %d", p.status)
		}
	})
	t.Run("NextStaysInTheConsole", func(t *testing.T) {
		for _, next := range []string{"https://evil.example/", "//evil.example/console", "/\\evil.example", "/console/../api/v1/calls",
			"/console/%2e%2e/api/v1/calls", "/api/v1/calls", "/console/sign-out", "javascript:alert(1)", "/console\r\nX: y"} {
			form := get(t, client, in.URL, "/console/sign-in")
			p := post(t, client, in.URL, "/console/sign-in", url.Values{"nonce": {field(t, nonceField, form)}, "token": {servicetest.APIToken},
				"next": {next}})
			if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/calls" {
				t.Errorf("next=%q: %d to %q, want /console/calls", next, p.status, p.header.Get("Location"))
			}
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		csrf := signIn(t, client, in.URL, servicetest.APIToken)
		if p := post(t, client, in.URL, "/console/sign-out", url.Values{}); p.status != http.StatusForbidden {
			t.Errorf("sign out without the CSRF token: %d", p.status)
		}
		p := post(t, client, in.URL, "/console/sign-out", url.Values{"csrf": {csrf}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/sign-in" {
			t.Errorf("sign out: %d to %q", p.status, p.header.Get("Location"))
		}
		if p := get(t, client, in.URL, "/console/calls"); p.status != http.StatusSeeOther {
			t.Errorf("after signing out, the call list: %d", p.status)
		}
	})
}

// TestConsoleSessionsAcrossInstances: a session opened on one instance
// is good on every instance with the same key and tokens, and ends
// wherever its token is no longer configured or the key differs.
func TestConsoleSessionsAcrossInstances(t *testing.T) {
	const first, second = "first-api-token-0123456789", "second-api-token-0123456789"
	a := startConsole(t, first, second)
	client := browserClient(t)
	signIn(t, client, a.URL, second)
	cookies := client.Jar.Cookies(mustURL(t, a.URL))

	try := func(in *servicetest.Instance) int {
		c := browserClient(t)
		c.Jar.SetCookies(mustURL(t, in.URL), cookies)
		return get(t, c, in.URL, "/console/calls").status
	}
	if got := try(startConsole(t, second, first)); got != http.StatusOK {
		t.Errorf("another instance with the same key and tokens: %d, want 200", got)
	}
	if got := try(startConsole(t, first)); got != http.StatusSeeOther {
		t.Errorf("an instance without the session's token: %d, want a redirect to sign in", got)
	}
	other := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) {
		c.APITokens = []string{first, second}
		c.Console.SessionKey = strings.ToUpper(consoleKey)
	}})
	if got := try(other); got != http.StatusSeeOther {
		t.Errorf("an instance with another key: %d, want a redirect to sign in", got)
	}
}

// TestConsoleAPIStaysBearerOnly: a console session opens no API request.
func TestConsoleAPIStaysBearerOnly(t *testing.T) {
	in := startConsole(t)
	call := endedCall(t, in)
	client := browserClient(t)
	signIn(t, client, in.URL, servicetest.APIToken)
	for _, path := range []string{"/api/v1/calls", "/api/v1/calls/" + call.CallSID, "/metrics"} {
		if p := get(t, client, in.URL, path); p.status != http.StatusUnauthorized {
			t.Errorf("GET %s with a console session: %d, want 401", path, p.status)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, in.URL+"/api/v1/calls/"+call.CallSID, nil)
	if p := send(t, client, req); p.status != http.StatusUnauthorized {
		t.Errorf("DELETE with a console session: %d, want 401", p.status)
	}
	if got := in.GetCall(call.CallSID); got.SID != call.CallSID {
		t.Fatal("the call is gone")
	}
}

// TestConsoleCSRF: a form that changes something is refused, changing
// nothing, without the session's token, with another session's, from
// another site, or as anything but a plain form.
func TestConsoleCSRF(t *testing.T) {
	in := startConsole(t)
	call := endedCall(t, in)
	client := browserClient(t)
	csrf := signIn(t, client, in.URL, servicetest.APIToken)
	otherCSRF := signIn(t, browserClient(t), in.URL, servicetest.APIToken)
	path := "/console/calls/" + call.CallSID + "/delete"

	for name, tc := range map[string]struct {
		form   url.Values
		header []string
		want   int
	}{
		"ErrNoToken":           {url.Values{}, nil, http.StatusForbidden},
		"ErrEmptyToken":        {url.Values{"csrf": {""}}, nil, http.StatusForbidden},
		"ErrOtherSessionToken": {url.Values{"csrf": {otherCSRF}}, nil, http.StatusForbidden},
		"ErrCrossSite":         {url.Values{"csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		"ErrSameSite":          {url.Values{"csrf": {csrf}}, []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		"ErrMultipart":         {url.Values{"csrf": {csrf}}, []string{"Content-Type", "multipart/form-data; boundary=x"}, http.StatusUnsupportedMediaType},
		"ErrJSON":              {url.Values{"csrf": {csrf}}, []string{"Content-Type", "application/json"}, http.StatusUnsupportedMediaType},
	} {
		t.Run(name, func(t *testing.T) {
			p := post(t, client, in.URL, path, tc.form, tc.header...)
			if p.status != tc.want || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%d %s, want %d and a page", p.status, p.header.Get("Content-Type"), tc.want)
			}
			if got := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); got.Status != http.StatusOK {
				t.Fatalf("the call is gone: %d", got.Status)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		p := post(t, client, in.URL, path, url.Values{"csrf": {csrf}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/calls?deleted=1" {
			t.Fatalf("delete: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		if got := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); got.Status != http.StatusNotFound {
			t.Errorf("deleted call: %d, want 404", got.Status)
		}
		// Deleted calls stay deleted: a late status callback does not
		// bring it back, as after the API's DELETE.
		in.Webhook("/twilio/status", call.Form("CallStatus", "completed"))
		if got := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); got.Status != http.StatusNotFound {
			t.Errorf("after a late callback: %d, want 404", got.Status)
		}
	})
}

func TestConsoleDeleteInProgress(t *testing.T) {
	in := startConsole(t)
	call := twiliotest.NewCall(servicetest.AccountSID)
	in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	client := browserClient(t)
	csrf := signIn(t, client, in.URL, servicetest.APIToken)
	if p := get(t, client, in.URL, "/console/calls/"+call.CallSID+"/delete"); p.status != http.StatusConflict {
		t.Errorf("asking to delete a call in progress: %d, want 409", p.status)
	}
	p := post(t, client, in.URL, "/console/calls/"+call.CallSID+"/delete", url.Values{"csrf": {csrf}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "it can be deleted once it has ended") {
		t.Errorf("deleting a call in progress: %d\n%s", p.status, p.body)
	}
}

// TestConsoleHeaders: every console response, pages, errors, redirects
// and audio alike, carries the security headers, and none may be cached
// but the content-hashed assets.
func TestConsoleHeaders(t *testing.T) {
	in := startConsole(t)
	call := endedCall(t, in)
	client := browserClient(t)
	signIn(t, client, in.URL, servicetest.APIToken)
	asset := regexp.MustCompile(`/console/assets/console\.[0-9a-f]{12}\.css`).FindString(get(t, client, in.URL, "/console/calls").body)
	if asset == "" {
		t.Fatal("no stylesheet link")
	}
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	for _, path := range []string{"/console", "/console/sign-in", "/console/calls", "/console/calls?number=12", "/console/calls/" + call.CallSID,
		"/console/calls/CA" + strings.Repeat("0", 32), "/console/calls/nope", "/console/live", "/console/live/rows", "/console/nothing-here",
		"/console/calls/" + call.CallSID + "/recordings/RE" + strings.Repeat("0", 32) + "/audio", asset} {
		for _, c := range []*http.Client{client, browserClient(t)} {
			p := get(t, c, in.URL, path)
			h := p.header
			if h.Get("Content-Security-Policy") != csp {
				t.Errorf("GET %s (%d): Content-Security-Policy %q", path, p.status, h.Get("Content-Security-Policy"))
			}
			for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if h.Get(name) != want {
					t.Errorf("GET %s (%d): %s %q, want %q", path, p.status, name, h.Get(name), want)
				}
			}
			cache := "no-store"
			if path == asset && p.status == http.StatusOK {
				cache = "public, max-age=31536000, immutable"
			}
			if h.Get("Cache-Control") != cache {
				t.Errorf("GET %s (%d): Cache-Control %q, want %q", path, p.status, h.Get("Cache-Control"), cache)
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Errorf("GET %s: HSTS in development", path)
			}
			if p.status >= 400 && !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Errorf("GET %s: error %d as %s, want a page", path, p.status, h.Get("Content-Type"))
			}
		}
	}
}

// TestConsoleFilters: the call list filters and pages as the form asks,
// and shows a filter it cannot use again with a message by the field.
func TestConsoleFilters(t *testing.T) {
	in := startConsole(t)
	client := browserClient(t)
	signIn(t, client, in.URL, servicetest.APIToken)
	var wanted twiliotest.Call
	for i := range 60 {
		c := endedCall(t, in)
		if i == 17 {
			wanted = c
		}
	}
	rows := regexp.MustCompile(`<tr>\s*<td data-label="Started">`)
	first := get(t, client, in.URL, "/console/calls")
	if n := len(rows.FindAllString(first.body, -1)); first.status != http.StatusOK || n != 50 {
		t.Fatalf("first page: %d with %d calls, want 50", first.status, n)
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(first.body)
	if next == nil {
		t.Fatal("no link to older calls")
	}
	second := get(t, client, in.URL, strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := len(rows.FindAllString(second.body, -1)); n != 10 || !strings.Contains(second.body, "Newest calls") || strings.Contains(second.body, `rel="next"`) {
		t.Errorf("second page: %d calls", n)
	}
	for _, q := range []string{url.QueryEscape(wanted.From), wanted.From[len(wanted.From)-4:], url.QueryEscape("555-" + wanted.From[len(wanted.From)-4:])} {
		p := get(t, client, in.URL, "/console/calls?number="+q)
		if n := len(rows.FindAllString(p.body, -1)); p.status != http.StatusOK || n != 1 || !strings.Contains(p.body, wanted.CallSID) {
			t.Errorf("number=%s: %d with %d calls, want the one", q, p.status, n)
		}
	}
	for q, field := range map[string]string{"number=12": "number", "number=abcd": "number", "status=answered": "status", "since=tomorrow": "since",
		"since=2026-03-02&until=2026-03-01": "until", "cursor=!!!": "cursor", "number=" + strings.Repeat("1", 100): "number"} {
		p := get(t, client, in.URL, "/console/calls?"+q)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, `class="error"`) || (field != "cursor" && !strings.Contains(p.body, `id="`+field+`-error"`)) {
			t.Errorf("%s: %d, want 400 with a message on %s", q, p.status, field)
		}
	}
}

func TestConsoleAudio(t *testing.T) {
	in := startConsole(t)
	call := endedCall(t, in)
	audio := []byte("RIFF....WAVEfmt the audio of a short call")
	recSID := twiliotest.SID("RE")
	in.Webhook("/twilio/recording", call.Form("RecordingSid", recSID, "RecordingUrl", in.Media.Add(recSID, audio), "RecordingStatus", "completed"))
	servicetest.Eventually(t, 10*time.Second, "the recording archived", func() bool {
		r, err := in.Calls.GetRecording(t.Context(), call.CallSID, recSID)
		return err == nil && r.State == storage.RecordingStored
	})
	path := "/console/calls/" + call.CallSID + "/recordings/" + recSID + "/audio"
	if p := get(t, browserClient(t), in.URL, path); p.status != http.StatusSeeOther {
		t.Errorf("audio without a session: %d, want a redirect to sign in", p.status)
	}
	client := browserClient(t)
	signIn(t, client, in.URL, servicetest.APIToken)
	if p := get(t, client, in.URL, path); p.status != http.StatusOK || p.body != string(audio) || p.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("audio: %d, %q", p.status, p.body)
	}
	req, _ := http.NewRequest(http.MethodGet, in.URL+path, nil)
	req.Header.Set("Range", "bytes=4-7")
	if p := send(t, client, req); p.status != http.StatusPartialContent || p.body != "...." {
		t.Errorf("a range of the audio: %d, %q", p.status, p.body)
	}
	if p := get(t, client, in.URL, "/console/calls/"+call.CallSID); !strings.Contains(p.body, `<audio controls preload="metadata" src="`+path+`"`) {
		t.Errorf("the call page has no player for the recording:\n%s", p.body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConsoleOpenInDevelopment: without API tokens (development only) the
// console lets anyone in, like the API; such a session is worth nothing
// once tokens are configured.
func TestConsoleOpenInDevelopment(t *testing.T) {
	open := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) {
		c.Console.SessionKey = consoleKey
		c.APITokens = nil
	}})
	client := browserClient(t)
	form := get(t, client, open.URL, "/console/sign-in")
	if !strings.Contains(form.body, "API_TOKENS is not set") {
		t.Errorf("the open console's sign-in page does not say it is open:\n%s", form.body)
	}
	signIn(t, client, open.URL, "")
	if p := get(t, client, open.URL, "/console/calls"); p.status != http.StatusOK || !strings.Contains(p.body, "development (no API token)") {
		t.Fatalf("the open console: %d", p.status)
	}
	guarded := startConsole(t)
	c := browserClient(t)
	c.Jar.SetCookies(mustURL(t, guarded.URL), client.Jar.Cookies(mustURL(t, open.URL)))
	if p := get(t, c, guarded.URL, "/console/calls"); p.status != http.StatusSeeOther {
		t.Errorf("an open session on an instance with API tokens: %d, want a redirect to sign in", p.status)
	}
}
