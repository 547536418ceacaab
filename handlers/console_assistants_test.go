package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// assistantForm is the console's assistant form, filled in.
func assistantForm(csrf string, set map[string]string) url.Values {
	v := url.Values{"csrf": {csrf}, "name": {"Dental"}, "prompt": {"You answer the telephone of Smile Dental."},
		"greeting": {"Smile Dental, hello!"}, "goodbye": {"Goodbye!"}, "language": {"en-US"}, "voice": {"Polly.Joanna-Neural"},
		"call_mode": {"gather"}, "speech.max_reply_chars": {"400"}, "speech.max_silence": {"2"},
		"analysis_schema": {`{"type": "object", "properties": {"booked": {"type": "boolean"}, "reason": {"type": "string"}}, "required": ["booked", "reason"]}`}}
	for k, val := range set {
		v.Set(k, val)
	}
	return v
}

// TestConsoleAssistants: assistants are created and changed through the
// console's forms with the API's rules and messages, each next to its
// field; a form edited from an older version saves nothing.
func TestConsoleAssistants(t *testing.T) {
	in := startConsole(t)
	client := browserClient(t)
	csrf := signIn(t, client, in.URL, servicetest.APIToken)

	t.Run("ErrFieldsNextToTheirFields", func(t *testing.T) {
		p := post(t, client, in.URL, "/console/assistants/new", assistantForm(csrf, map[string]string{
			"name": " ", "model.temperature": "hot", "language": "xx", "speech.max_silence": "99",
			"analysis_schema": `{"type": "object", "properties": {"a": {"type": "colour"}}}`,
		}))
		if p.status != http.StatusBadRequest {
			t.Fatalf("a form breaking rules: %d", p.status)
		}
		for _, id := range []string{"name", "model-temperature", "language", "speech-max_silence", "analysis_schema"} {
			if !strings.Contains(p.body, `id="`+id+`-error"`) || !regexp.MustCompile(`id="`+id+`"[^>]*aria-invalid="true"`).MatchString(p.body) {
				t.Errorf("no message next to %s:\n%s", id, p.body)
			}
		}
		if !strings.Contains(p.body, "You answer the telephone of Smile Dental.") {
			t.Error("the form lost what was typed")
		}
		if p := post(t, client, in.URL, "/console/assistants/new", assistantForm(csrf, map[string]string{"analysis_schema": "{not json"})); p.status != http.StatusBadRequest ||
			!strings.Contains(p.body, `id="analysis_schema-error"`) {
			t.Errorf("a schema that is not JSON: %d", p.status)
		}
		if got := in.API(http.MethodGet, "/api/v1/assistants"); strings.Contains(got.Body, "Dental") {
			t.Errorf("a refused form stored an assistant: %s", got.Body)
		}
	})

	var id string
	t.Run("Create", func(t *testing.T) {
		p := post(t, client, in.URL, "/console/assistants/new", assistantForm(csrf, map[string]string{"model.temperature": "0.2"}))
		m := regexp.MustCompile(`^/console/assistants/(as_[0-9a-f]{24})\?saved=1$`).FindStringSubmatch(p.header.Get("Location"))
		if p.status != http.StatusSeeOther || m == nil {
			t.Fatalf("create: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		id = m[1]
		var a storage.Assistant
		if r := in.API(http.MethodGet, "/api/v1/assistants/"+id); r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &a) != nil {
			t.Fatalf("the API does not have it: %d %s", r.Status, r.Body)
		}
		if a.Version != 1 || a.Name != "Dental" || a.Model.Temperature == nil || *a.Model.Temperature != 0.2 || !storage.HasSchema(a.AnalysisSchema) {
			t.Errorf("stored %+v", a)
		}
		page := get(t, client, in.URL, "/console/assistants/"+id+"?saved=1")
		if page.status != http.StatusOK || !strings.Contains(page.body, "Saved.") || !strings.Contains(page.body, `name="version" value="1"`) {
			t.Errorf("the assistant's page: %d\n%s", page.status, page.body)
		}
	})
	t.Run("UpdateAndStale", func(t *testing.T) {
		form := assistantForm(csrf, map[string]string{"version": "1", "greeting": "Smile Dental, good morning!"})
		if p := post(t, client, in.URL, "/console/assistants/"+id, form); p.status != http.StatusSeeOther {
			t.Fatalf("update: %d\n%s", p.status, p.body)
		}
		// Another edit made from version 1, after version 2 was saved.
		p := post(t, client, in.URL, "/console/assistants/"+id, assistantForm(csrf, map[string]string{"version": "1", "greeting": "Hi!"}))
		if p.status != http.StatusConflict || !strings.Contains(p.body, "nothing was saved") || !strings.Contains(p.body, ">Hi!</textarea>") {
			t.Errorf("a stale edit: %d\n%s", p.status, p.body)
		}
		var a storage.Assistant
		_ = json.Unmarshal([]byte(in.API(http.MethodGet, "/api/v1/assistants/"+id).Body), &a)
		if a.Version != 2 || a.Greeting != "Smile Dental, good morning!" {
			t.Errorf("after a stale edit the assistant is version %d, greeting %q", a.Version, a.Greeting)
		}
	})
	t.Run("DefaultIsReadOnly", func(t *testing.T) {
		p := get(t, client, in.URL, "/console/assistants/default")
		if p.status != http.StatusOK || !strings.Contains(p.body, "<fieldset disabled>") || strings.Contains(p.body, `type="submit">Save`) {
			t.Errorf("the default assistant's page: %d", p.status)
		}
		if p := post(t, client, in.URL, "/console/assistants/default", assistantForm(csrf, nil)); p.status != http.StatusConflict {
			t.Errorf("changing the default assistant: %d, want 409", p.status)
		}
	})
	t.Run("ErrCSRF", func(t *testing.T) {
		form := assistantForm("", map[string]string{"version": "2"})
		if p := post(t, client, in.URL, "/console/assistants/"+id, form); p.status != http.StatusForbidden {
			t.Errorf("an edit without its CSRF token: %d", p.status)
		}
	})

	t.Run("Numbers", func(t *testing.T) {
		for name, tc := range map[string]struct {
			number, assistant, field string
		}{
			"ErrNotANumber":      {"0800 CALL NOW", id, "number"},
			"ErrNotE164":         {"4155550201", id, "number"},
			"ErrNoAssistant":     {"+14155550201", "", "assistant_id"},
			"ErrUnknownAssitant": {"+14155550201", "as_000000000000000000000000", "assistant_id"},
		} {
			t.Run(name, func(t *testing.T) {
				p := post(t, client, in.URL, "/console/numbers", url.Values{"csrf": {csrf}, "number": {tc.number}, "assistant_id": {tc.assistant}})
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="`+tc.field+`-error"`) {
					t.Errorf("%d, want 400 with a message on %s\n%s", p.status, tc.field, p.body)
				}
			})
		}
		p := post(t, client, in.URL, "/console/numbers", url.Values{"csrf": {csrf}, "number": {"+1 415 555 0201"}, "assistant_id": {id}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("add a number: %d\n%s", p.status, p.body)
		}
		if r := in.API(http.MethodGet, "/api/v1/numbers/%2B14155550201"); r.Status != http.StatusOK || !strings.Contains(r.Body, id) {
			t.Errorf("the API's number: %d %s", r.Status, r.Body)
		}
		if p := post(t, client, in.URL, "/console/numbers", url.Values{"csrf": {csrf}, "number": {"+14155550201"}, "assistant_id": {id}}); p.status != http.StatusBadRequest ||
			!strings.Contains(p.body, "already has an assistant") {
			t.Errorf("the same number again: %d", p.status)
		}
		// An assistant that answers a number cannot be deleted.
		confirm := get(t, client, in.URL, "/console/assistants/"+id+"/delete")
		action := regexp.MustCompile(`action="([^"]+)" class="confirm"`).FindStringSubmatch(confirm.body)
		if confirm.status != http.StatusOK || action == nil {
			t.Fatalf("the deletion's confirmation: %d", confirm.status)
		}
		deleteURL := strings.ReplaceAll(action[1], "&amp;", "&")
		if p := post(t, client, in.URL, deleteURL, url.Values{"csrf": {csrf}}); p.status != http.StatusConflict {
			t.Errorf("deleting an assistant that answers a number: %d, want 409", p.status)
		}
		if p := get(t, client, in.URL, "/console/numbers/%2B14155550201/delete"); p.status != http.StatusOK || !strings.Contains(p.body, "Remove &#43;14155550201?") {
			t.Errorf("the removal's confirmation: %d", p.status)
		}
		if p := post(t, client, in.URL, "/console/numbers/%2B14155550201/delete", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
			t.Fatalf("remove the number: %d", p.status)
		}
		if p := post(t, client, in.URL, deleteURL, url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
			t.Fatalf("delete the assistant: %d\n%s", p.status, p.body)
		}
		if r := in.API(http.MethodGet, "/api/v1/assistants/"+id); r.Status != http.StatusNotFound {
			t.Errorf("the deleted assistant: %d", r.Status)
		}
	})
}

// TestConsoleAnalysis: a call answered by an assistant with an analysis
// schema shows its assistant and fields; a field's link, and the list's
// analysis filter, find the calls with that value.
func TestConsoleAnalysis(t *testing.T) {
	in := startConsole(t)
	client := browserClient(t)
	csrf := signIn(t, client, in.URL, servicetest.APIToken)
	p := post(t, client, in.URL, "/console/assistants/new", assistantForm(csrf, nil))
	id := strings.TrimSuffix(strings.TrimPrefix(p.header.Get("Location"), "/console/assistants/"), "?saved=1")
	post(t, client, in.URL, "/console/numbers", url.Values{"csrf": {csrf}, "number": {"+14155550201"}, "assistant_id": {id}})

	call := func(said string) twiliotest.Call {
		c := twiliotest.NewCall(servicetest.AccountSID)
		c.To = "+14155550201"
		in.Webhook("/twilio/voice", c.Form("CallStatus", "ringing"))
		in.Webhook("/twilio/gather?turn=1", c.Form("CallStatus", "in-progress", "SpeechResult", said))
		in.Webhook("/twilio/status", c.Form("CallStatus", "completed", "CallDuration", "30"))
		return c
	}
	booked, asked := call("I would like to book a cleaning."), call("What are your opening hours?")
	for _, c := range []twiliotest.Call{booked, asked} {
		servicetest.Eventually(t, 20*time.Second, "the analysis", func() bool { return in.GetCall(c.CallSID).Analysis != nil })
	}

	page := get(t, client, in.URL, "/console/calls/"+booked.CallSID)
	link := regexp.MustCompile(`<dt>booked</dt><dd><a href="([^"]+)"[^>]*>yes</a>`).FindStringSubmatch(page.body)
	if link == nil || !strings.Contains(page.body, `href="/console/assistants/`+id+`">`+id+`</a>, version 1`) {
		t.Fatalf("the call page lacks its assistant or its analysis:\n%s", page.body)
	}
	rows := regexp.MustCompile(`/console/calls/(CA[0-9a-f]{32})"`)
	found := func(path string) []string {
		t.Helper()
		p := get(t, client, in.URL, path)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, p.status, p.body)
		}
		var sids []string
		for _, m := range rows.FindAllStringSubmatch(p.body, -1) {
			sids = append(sids, m[1])
		}
		return sids
	}
	if got := found(strings.ReplaceAll(link[1], "&amp;", "&")); len(got) != 1 || got[0] != booked.CallSID {
		t.Errorf("the booked=yes link finds %v, want the booked call", got)
	}
	if got := found("/console/calls?analysis_field=booked&analysis_value=false"); len(got) != 1 || got[0] != asked.CallSID {
		t.Errorf("the analysis filter booked=false finds %v, want the other call", got)
	}
	if got := found("/console/calls?assistant=" + id); len(got) != 2 {
		t.Errorf("the assistant filter finds %v, want both calls", got)
	}
	if p := get(t, client, in.URL, "/console/calls?analysis_field=no%20such&analysis_value=1"); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, `id="analysis-error"`) {
		t.Errorf("a malformed analysis field: %d", p.status)
	}
}
