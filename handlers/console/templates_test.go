package console_test

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/handlers/console"
	"switchboard/storage"
)

// TestTemplatesKeepToTheCSP: the Content-Security-Policy allows no inline
// script or style, so no template may have a <script> without src, a
// style attribute or element, or an on… event attribute; it would be
// blocked in the browser, silently.
func TestTemplatesKeepToTheCSP(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	err := fs.WalkDir(os.DirFS("templates"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("templates", path))
		if err != nil {
			return err
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s has inline script or style the CSP would block: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRender renders every page under a base path, and checks that what
// a call holds is escaped and every link starts with the base path.
func TestRender(t *testing.T) {
	r, err := console.NewRenderer("/prod")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	hostile := `<img src=x onerror=alert(1)>`
	call := storage.Call{SID: "CA" + strings.Repeat("a", 32), From: hostile, To: "+18005550100", Direction: "inbound",
		Status: storage.StatusCompleted, CreatedAt: at, Duration: 65,
		Timeline: []storage.StatusEvent{{Status: storage.StatusRinging, At: at}, {Status: storage.StatusCompleted, At: at.Add(time.Minute)}},
		Turns: []storage.Turn{
			{Number: 0, Role: storage.RoleAssistant, Text: "Hello!", CreatedAt: at},
			{Number: 1, Role: storage.RoleCaller, Text: hostile, Confidence: 0.5, CreatedAt: at.Add(5 * time.Second)},
			{Number: 1, Role: storage.RoleAssistant, Text: "Sorry?", Error: "assistant timed out", CreatedAt: at.Add(7 * time.Second)},
			{Number: 2, Role: storage.RoleCaller, Text: "When are you open?", Confidence: -1, CreatedAt: at.Add(9 * time.Second)},
			{Number: 2, Role: storage.RoleAssistant, Text: "We open at", Interrupted: true, CreatedAt: at.Add(12 * time.Second),
				Latency: &storage.Latency{FirstTokenMS: 310, FirstTextMS: 420.5, LastTextMS: -1}},
		},
		Summary:    &storage.Summary{Text: hostile, Reason: "hours", Outcome: "answered", FollowUp: true},
		Recordings: []storage.Recording{{SID: "RE" + strings.Repeat("b", 32), State: storage.RecordingStored, Duration: 65}},
	}
	view := console.NewCall(call, func(rsid string) string { return "/prod/console/calls/" + call.SID + "/recordings/" + rsid + "/audio" })
	_, filter := console.ParseFilter(url.Values{"number": {"12"}})
	pages := map[string]console.Page{
		"sign-in":    {Title: "Sign in", Body: console.SignIn{Nonce: "n", Next: "/prod/console/calls", Error: "wrong"}},
		"calls":      {Title: "Calls", Nav: "calls", CSRF: "c", Who: "API token 1", Body: console.Calls{Filter: filter, Statuses: console.Statuses, Rows: console.Rows([]storage.Call{call}), Next: "/prod/console/calls?cursor=x"}},
		"call":       {Title: "Call", Nav: "calls", CSRF: "c", Who: "API token 1", Body: view},
		"delete":     {Title: "Delete", CSRF: "c", Who: "API token 1", Body: console.Delete{Row: view.Row}},
		"live":       {Title: "Live", Nav: "live", CSRF: "c", Who: "API token 1", Script: true, Body: console.Live{Rows: console.Rows([]storage.Call{call}), At: at}},
		"problem":    {Title: "Not found", Body: console.Problem{Status: 404, Message: hostile}},
		"signed-out": {Title: "Signed out"},
		"assistants": {Title: "Assistants", Nav: "assistants", CSRF: "c", Who: "API token 1", Body: console.Assistants{List: []storage.Assistant{
			{ID: "as_" + strings.Repeat("c", 24), Version: 3, AssistantSettings: storage.AssistantSettings{Name: hostile, Language: "en-US", CallMode: storage.CallModeGather}}}}},
		"assistant": {Title: "Assistant", Nav: "assistants", CSRF: "c", Who: "API token 1", Body: func() console.AssistantForm {
			f := console.NewAssistantForm(storage.Assistant{ID: "as_" + strings.Repeat("c", 24), Version: 3,
				AssistantSettings: storage.AssistantSettings{Name: hostile, Prompt: hostile, AnalysisSchema: []byte(`{"type":"object"}`)}})
			f.SetErrors([]storage.FieldError{{Field: "model.temperature", Message: "has the wrong type"}, {Field: "name", Message: hostile}})
			return f
		}()},
		"numbers": {Title: "Numbers", Nav: "numbers", CSRF: "c", Who: "API token 1", Body: console.Numbers{
			List:   []storage.Number{{Number: "+14155550100", AssistantID: "as_" + strings.Repeat("c", 24), CreatedAt: at}},
			Number: hostile, Errors: map[string]string{"number": hostile}}},
		"confirm": {Title: "Confirm", CSRF: "c", Who: "API token 1", Body: console.Confirm{Question: hostile, Detail: hostile,
			Action: "/prod/console/numbers/x/delete", Button: "Remove", Back: "/prod/console/numbers"}},
	}
	hrefs := regexp.MustCompile(`(?:href|src|action)="([^"]*)"`)
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			b, err := r.Render(name, "", page)
			if err != nil {
				t.Fatal(err)
			}
			html := string(b)
			if strings.Contains(html, hostile) {
				t.Errorf("%s shows stored text unescaped", name)
			}
			for _, m := range hrefs.FindAllStringSubmatch(html, -1) {
				if !strings.HasPrefix(m[1], "/prod/console") && !strings.HasPrefix(m[1], "#") {
					t.Errorf("%s links to %q, outside the base path", name, m[1])
				}
			}
		})
	}
	t.Run("CallMarksFailuresLatencyAndConfidence", func(t *testing.T) {
		b, _ := r.Render("call", "", pages["call"])
		for _, want := range []string{"Failed:</strong> assistant timed out", "answered in 2.0 s", "heard with 50% confidence",
			"failed to answer 1 time;", "1:05", `<audio controls preload="metadata" src="/prod/console/calls/`,
			"answered in 420 ms", "interrupted by the caller", "Streamed: first token 310 ms, first words sent 420 ms, last words sent never."} {
			if !strings.Contains(string(b), want) {
				t.Errorf("the call page lacks %q", want)
			}
		}
	})
	t.Run("AssistantErrorsNextToTheirFields", func(t *testing.T) {
		b, _ := r.Render("assistant", "", pages["assistant"])
		if !strings.Contains(string(b), `<p class="error" id="model-temperature-error">Must be a number.</p>`) ||
			!regexp.MustCompile(`id="model-temperature"[^>]*aria-describedby="model-temperature-hint model-temperature-error" aria-invalid="true"`).Match(b) {
			t.Errorf("the temperature's error is not tied to its field:\n%s", b)
		}
	})
	t.Run("FilterErrorsNextToTheirFields", func(t *testing.T) {
		b, _ := r.Render("calls", "", pages["calls"])
		if !strings.Contains(string(b), `aria-describedby="number-hint number-error" aria-invalid="true"`) ||
			!strings.Contains(string(b), `<p class="error" id="number-error">`) {
			t.Errorf("the number's error is not tied to its field:\n%s", b)
		}
	})
}

func TestParseFilter(t *testing.T) {
	ok := []struct {
		q    url.Values
		want storage.CallFilter
	}{
		{url.Values{}, storage.CallFilter{}},
		{url.Values{"status": {"busy"}}, storage.CallFilter{Status: storage.StatusBusy}},
		{url.Values{"number": {"+44 7700 900-123"}}, storage.CallFilter{Number: "+447700900123"}},
		{url.Values{"number": {" 0123 "}}, storage.CallFilter{Number: "0123"}},
		{url.Values{"since": {"2026-03-01"}, "until": {"2026-03-01"}},
			storage.CallFilter{Since: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range ok {
		f, form := console.ParseFilter(tc.q)
		if len(form.Errors) != 0 || !cmp.Equal(f, tc.want) {
			t.Errorf("ParseFilter(%v) = %+v, %v; want %+v", tc.q, f, form.Errors, tc.want)
		}
	}
	bad := map[string]url.Values{
		"status": {"status": {"answered"}},
		"number": {"number": {"12"}},
		"since":  {"since": {"yesterday"}},
		"until":  {"since": {"2026-03-02"}, "until": {"2026-03-01"}},
		"cursor": {"cursor": {"!!"}},
	}
	for field, q := range bad {
		if _, form := console.ParseFilter(q); form.Errors[field] == "" || len(form.Errors) != 1 {
			t.Errorf("ParseFilter(%v) errors %v, want one on %s", q, form.Errors, field)
		}
	}
}
