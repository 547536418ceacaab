package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/handlers/fixture"
	"switchboard/handlers/twiliotest"
)

const captureAccount = "AC0123456789abcdef0123456789abcdef"

// webhookClient plays Twilio in these tests.
var webhookClient = &http.Client{Timeout: 30 * time.Second}

// startMain runs the service on a loopback port with the fixtures' public
// URL and dev token, plus env, until the test ends; stop shuts it down
// early (and flushes captures).
func startMain(t *testing.T, env map[string]string) (base string, stop func()) {
	t.Helper()
	e := map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "PUBLIC_BASE_URL": fixture.BaseURL, "TWILIO_AUTH_TOKEN": fixture.DevAuthToken,
		"DATA_DIR": t.TempDir(), "SHUTDOWN_DRAIN_DELAY": "0s", "SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "error",
		// Nothing in these tests reaches Twilio's API.
		"TWILIO_API_BASE_URL": "http://127.0.0.1:1",
	}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := LoadConfig(e)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Listen(); err != nil {
		m.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// Idle keep-alive connections would hold the drain until its timeout.
			webhookClient.CloseIdleConnections()
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
			m.Close()
		})
	}
	t.Cleanup(stop)
	return "http://" + m.Addr().String(), stop
}

// webhook is one delivery: path and form, signed for the fixtures' URL
// unless forged.
type webhook struct {
	path   string
	form   url.Values
	forged bool
}

func deliver(t *testing.T, base string, w webhook) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+w.path, strings.NewReader(w.form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	token := fixture.DevAuthToken
	if w.forged {
		token = "forged"
	}
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(token, fixture.BaseURL+w.path, w.form))
	resp, err := webhookClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// conversation is a short call: greeting, two turns (the last a goodbye),
// a duplicate delivery and the end-of-call status.
func conversation(c twiliotest.Call) []webhook {
	return []webhook{
		{path: "/twilio/voice", form: c.Form("CallStatus", "ringing")},
		{path: "/twilio/gather?turn=1", form: c.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?", "Confidence", "0.91")},
		{path: "/twilio/gather?turn=1", form: c.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?", "Confidence", "0.91")},
		{path: "/twilio/gather?turn=2", form: c.Form("CallStatus", "in-progress", "SpeechResult", "That's all, goodbye", "Confidence", "0.88")},
		{path: "/twilio/status", form: c.Form("CallStatus", "completed", "CallDuration", "31", "SequenceNumber", "0",
			"Timestamp", time.Date(2026, 11, 16, 14, 3, 7, 0, time.UTC).Format(time.RFC1123Z))},
	}
}

// replayFolder sends a captured folder to base, re-signed, and returns the
// mismatches with the captured answers.
func replayFolder(t *testing.T, base, dir string) (statuses []int, diffs []string) {
	t.Helper()
	fx, err := fixture.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	target := fixture.HTTPTarget{URL: base, BaseURL: fixture.BaseURL, AuthToken: fixture.DevAuthToken, Client: webhookClient}
	for _, f := range fx {
		got, err := target.Send(context.Background(), f.Request)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		statuses = append(statuses, got.Status)
		if d := fixture.Diff(*f.Golden, got); d != "" {
			diffs = append(diffs, f.Name+":\n"+d)
		}
	}
	return statuses, diffs
}

func TestCaptureMode(t *testing.T) {
	dir := t.TempDir()
	base, stop := startMain(t, map[string]string{"CAPTURE_DIR": dir})
	calls := []twiliotest.Call{twiliotest.NewCall(captureAccount), twiliotest.NewCall(captureAccount), twiliotest.NewCall(captureAccount)}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			for _, w := range conversation(c) {
				deliver(t, base, w)
			}
		})
	}
	wg.Wait()
	forged := calls[0].Form("CallStatus", "ringing")
	if s := deliver(t, base, webhook{path: "/twilio/voice", form: forged, forged: true}); s != http.StatusForbidden {
		t.Fatalf("forged webhook answered %d", s)
	}
	noSID := url.Values{"CallSid": {"../../etc"}, "AccountSid": {captureAccount}}
	deliver(t, base, webhook{path: "/twilio/status", form: noSID})
	stop() // flushes the capture queue

	day := time.Now().UTC().Format("2006-01-02")
	for i, c := range calls {
		folder := filepath.Join(dir, day, c.CallSID)
		fx, err := fixture.ReadDir(folder)
		if err != nil {
			t.Fatal(err)
		}
		// The forged webhook is refused and not captured: unauthenticated
		// senders cannot fill CAPTURE_DIR.
		want := []string{"001-voice", "002-gather-turn1", "003-gather-turn1", "004-gather-turn2", "005-status-completed"}
		var names []string
		for _, f := range fx {
			names = append(names, f.Name)
			st, err := os.Stat(f.RequestPath())
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, %v", f.RequestPath(), st.Mode(), err)
			}
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("call %d captured %q, want %q", i, names, want)
		}
		st, err := os.Stat(folder)
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v", folder, st.Mode(), err)
		}
	}
	if fx, err := fixture.ReadDir(filepath.Join(dir, day, "unknown")); err != nil || len(fx) != 1 || fx[0].Golden.Status != http.StatusBadRequest {
		t.Errorf("unknown/: %d fixtures, %v", len(fx), err)
	}

	t.Run("OKReplaysIdenticallyOnAFreshServer", func(t *testing.T) {
		fresh, _ := startMain(t, nil)
		for _, c := range calls {
			statuses, diffs := replayFolder(t, fresh, filepath.Join(dir, day, c.CallSID))
			if len(diffs) > 0 {
				t.Errorf("%s replayed differently:\n%s", c.CallSID, strings.Join(diffs, "\n"))
			}
			if statuses[0] != http.StatusOK || statuses[4] != http.StatusNoContent {
				t.Errorf("statuses %v", statuses)
			}
		}
	})
}

func TestCaptureRedacted(t *testing.T) {
	dir := t.TempDir()
	base, stop := startMain(t, map[string]string{"CAPTURE_DIR": dir, "CAPTURE_REDACT": "true"})
	c := twiliotest.NewCall(captureAccount)
	c.From, c.To = "+14155550147", "+18005550100"
	for _, w := range conversation(c) {
		deliver(t, base, w)
	}
	stop()
	folder := filepath.Join(dir, time.Now().UTC().Format("2006-01-02"), c.CallSID)
	fx, err := fixture.ReadDir(folder)
	if err != nil || len(fx) != 5 {
		t.Fatalf("%d fixtures, %v", len(fx), err)
	}
	fakeFrom := fixture.FakeNumber(c.CallSID, c.From)
	for _, f := range fx {
		raw, err := os.ReadFile(f.RequestPath())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "4155550147") || strings.Contains(string(raw), "8005550100") {
			t.Errorf("%s keeps a real number:\n%s", f.Name, raw)
		}
		if form := f.Request.Form(); form.Get("From") != fakeFrom || form.Get("Caller") != fakeFrom {
			t.Errorf("%s: From %s Caller %s, want %s throughout the call", f.Name, form.Get("From"), form.Get("Caller"), fakeFrom)
		}
		if f.Request.Signature != fixture.SignatureResign {
			t.Errorf("%s not marked for re-signing", f.Name)
		}
	}

	t.Run("OKReplaysResigned", func(t *testing.T) {
		fresh, _ := startMain(t, nil)
		if statuses, diffs := replayFolder(t, fresh, folder); len(diffs) > 0 {
			t.Errorf("statuses %v; redacted call replayed differently:\n%s", statuses, strings.Join(diffs, "\n"))
		}
	})
	t.Run("ErrNotResigned", func(t *testing.T) {
		_, err := fixture.HTTPTarget{URL: base}.Send(context.Background(), fx[0].Request)
		if err == nil || !strings.Contains(err.Error(), "re-sign") {
			t.Errorf("sent a stale signature: %v", err)
		}
	})
}

func TestCaptureFolder(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 3, 1, 23, 59, 0, 0, time.FixedZone("X", -5*3600)) }
	folder := captureFolder(now)
	form := func(body string) fixture.Request {
		return fixture.Request{Header: []fixture.Field{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}, Body: []byte(body)}
	}
	for name, tc := range map[string]struct{ body, want string }{
		"OKCallSid":            {"CallSid=CA0123456789abcdef0123456789abcdef", "2026-03-02/CA0123456789abcdef0123456789abcdef"},
		"OKTraversalIsUnknown": {"CallSid=..%2F..%2Fetc", "2026-03-02/unknown"},
		"OKMissingIsUnknown":   {"From=x", "2026-03-02/unknown"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := folder(form(tc.body)); got != tc.want {
				t.Errorf("folder %q, want %q", got, tc.want)
			}
		})
	}
}
