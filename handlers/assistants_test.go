package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// The assistants and numbers API, run against the memory store and
// PostgreSQL alike: the same requests must get the same answers.

// onBothStores runs f against an instance on each call store.
func onBothStores(t *testing.T, f func(t *testing.T, in *servicetest.Instance)) {
	t.Run("Memory", func(t *testing.T) { f(t, servicetest.Start(t, servicetest.Options{NoWorkers: true})) })
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.MigratedURL(t)
		f(t, servicetest.Start(t, servicetest.Options{NoWorkers: true, Configure: func(c *service.Config) {
			c.Postgres = postgres.Config{URL: url, MaxConns: 4, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second}
		}}))
	})
}

const dentalJSON = `{"name": "Dental", "prompt": "You answer the telephone of Smile Dental.", "greeting": "Smile Dental, how can I help?",
	"language": "en-GB", "voice": "Polly.Amy-Neural", "model": {"name": "gpt-4o-mini", "temperature": 0.2},
	"analysis_schema": {"type": "object", "properties": {"reason": {"type": "string"}, "booked": {"type": "boolean"}}, "required": ["reason", "booked"]}}`

// apiError is the error shape of the API.
type apiError struct {
	Error struct {
		Code    string               `json:"code"`
		Message string               `json:"message"`
		Fields  []storage.FieldError `json:"fields"`
	} `json:"error"`
}

func decodeAs[T any](t *testing.T, r servicetest.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
		t.Fatalf("decoding %q: %v", r.Body, err)
	}
	return v
}

func wantStatus(t *testing.T, what string, r servicetest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, status)
	}
}

// wantError checks an error answer's status, code and named fields.
func wantError(t *testing.T, what string, r servicetest.Response, status int, code string, fields ...string) {
	t.Helper()
	wantStatus(t, what, r, status)
	e := decodeAs[apiError](t, r)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("%s: error %+v, want code %q with a message", what, e.Error, code)
	}
	var got []string
	for _, f := range e.Error.Fields {
		got = append(got, f.Field)
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Fatalf("%s: fields %v, want %v (%s)", what, got, fields, r.Body)
	}
}

func createAssistant(t *testing.T, in *servicetest.Instance, body string) storage.Assistant {
	t.Helper()
	r := in.Send(http.MethodPost, "/api/v1/assistants", body)
	wantStatus(t, "POST /assistants", r, http.StatusCreated)
	a := decodeAs[storage.Assistant](t, r)
	if r.Header.Get("Location") != "/api/v1/assistants/"+a.ID || r.Header.Get("ETag") != `"v1"` {
		t.Fatalf("POST /assistants: Location %q, ETag %q", r.Header.Get("Location"), r.Header.Get("ETag"))
	}
	return a
}

func TestAssistantsAPI(t *testing.T) {
	onBothStores(t, func(t *testing.T, in *servicetest.Instance) {
		a := createAssistant(t, in, dentalJSON)
		if a.Version != 1 || a.Name != "Dental" || a.Language != "en-GB" || a.CallMode != storage.CallModeGather ||
			a.Goodbye != service.Defaults().Model.Goodbye || a.Speech.MaxReplyChars != 400 || *a.Model.Temperature != 0.2 {
			t.Fatalf("created %+v: want the fields sent and the defaults for the others", a)
		}
		path := "/api/v1/assistants/" + a.ID

		r := in.Send(http.MethodGet, path, "")
		wantStatus(t, "GET", r, http.StatusOK)
		if got := decodeAs[storage.Assistant](t, r); got.Prompt != a.Prompt || r.Header.Get("ETag") != `"v1"` {
			t.Fatalf("GET = %+v, ETag %q", got, r.Header.Get("ETag"))
		}
		list := decodeAs[struct{ Assistants []storage.Assistant }](t, in.Send(http.MethodGet, "/api/v1/assistants", ""))
		if len(list.Assistants) != 1 || list.Assistants[0].ID != a.ID {
			t.Fatalf("GET /assistants = %+v", list)
		}

		t.Run("PreconditionRequired", func(t *testing.T) {
			wantError(t, "PUT without If-Match", in.Send(http.MethodPut, path, dentalJSON), http.StatusPreconditionRequired, "precondition_required")
			r := in.Send(http.MethodPatch, path, `{"name":"x"}`)
			wantError(t, "PATCH without If-Match", r, http.StatusPreconditionRequired, "precondition_required")
			wantError(t, "DELETE without If-Match", in.Send(http.MethodDelete, path, ""), http.StatusPreconditionRequired, "precondition_required")
		})

		// PATCH: a merge patch of the current version makes version 2.
		r = in.Send(http.MethodPatch, path, `{"prompt": "You answer for Smile Dental, open on Saturdays.", "model": {"temperature": null}}`,
			"If-Match", `"v1"`, "Content-Type", "application/merge-patch+json")
		wantStatus(t, "PATCH", r, http.StatusOK)
		v2 := decodeAs[storage.Assistant](t, r)
		if v2.Version != 2 || v2.Prompt != "You answer for Smile Dental, open on Saturdays." || v2.Model.Temperature != nil ||
			v2.Model.Name != "gpt-4o-mini" || v2.Greeting != a.Greeting || string(v2.AnalysisSchema) != string(a.AnalysisSchema) {
			t.Fatalf("PATCH made %+v", v2)
		}
		if r.Header.Get("ETag") != `"v2"` {
			t.Fatalf("PATCH ETag = %q", r.Header.Get("ETag"))
		}
		wantError(t, "PATCH from version 1 again", in.Send(http.MethodPatch, path, `{"name": "Lost"}`, "If-Match", `"v1"`),
			http.StatusPreconditionFailed, "precondition_failed")
		wantError(t, "PUT from version 1", in.Send(http.MethodPut, path, dentalJSON, "If-Match", `"v1"`),
			http.StatusPreconditionFailed, "precondition_failed")
		wantError(t, "PUT with a weak ETag", in.Send(http.MethodPut, path, dentalJSON, "If-Match", `W/"v2"`),
			http.StatusPreconditionFailed, "precondition_failed")

		// PUT replaces the whole assistant: what is left out takes its default.
		r = in.Send(http.MethodPut, path, `{"name": "Dental", "prompt": "Short.", "greeting": "Hi."}`, "If-Match", `"v0", "v2"`)
		wantStatus(t, "PUT", r, http.StatusOK)
		v3 := decodeAs[storage.Assistant](t, r)
		if v3.Version != 3 || v3.Language != "en-US" || v3.Model.Name != "" || storage.HasSchema(v3.AnalysisSchema) {
			t.Fatalf("PUT made %+v: want defaults for the fields left out", v3)
		}
		old := decodeAs[storage.Assistant](t, in.Send(http.MethodGet, path+"/versions/1", ""))
		if old.Version != 1 || old.Prompt != a.Prompt {
			t.Fatalf("version 1 after two updates = %+v", old)
		}

		// Numbers route to it; it cannot be deleted while they do.
		r = in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+14155550111", "assistant_id": "`+a.ID+`"}`)
		wantStatus(t, "POST /numbers", r, http.StatusCreated)
		if loc := r.Header.Get("Location"); loc != "/api/v1/numbers/+14155550111" {
			t.Fatalf("number Location = %q", loc)
		}
		wantError(t, "POST the same number", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+14155550111", "assistant_id": "`+a.ID+`"}`),
			http.StatusConflict, "conflict")
		wantError(t, "POST a number to nobody", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+14155550112", "assistant_id": "`+storage.NewAssistantID()+`"}`),
			http.StatusNotFound, "not_found")
		for _, p := range []string{"/api/v1/numbers/+14155550111", "/api/v1/numbers/%2B14155550111"} {
			if n := decodeAs[storage.Number](t, in.Send(http.MethodGet, p, "")); n.AssistantID != a.ID {
				t.Fatalf("GET %s = %+v", p, n)
			}
		}
		numbers := decodeAs[struct{ Numbers []storage.Number }](t, in.Send(http.MethodGet, "/api/v1/numbers", ""))
		if len(numbers.Numbers) != 1 {
			t.Fatalf("GET /numbers = %+v", numbers)
		}
		wantError(t, "DELETE while a number routes to it", in.Send(http.MethodDelete, path, "", "If-Match", `"v3"`), http.StatusConflict, "conflict")
		wantStatus(t, "DELETE the number", in.Send(http.MethodDelete, "/api/v1/numbers/+14155550111", ""), http.StatusNoContent)
		wantError(t, "DELETE the number again", in.Send(http.MethodDelete, "/api/v1/numbers/+14155550111", ""), http.StatusNotFound, "not_found")
		wantStatus(t, "DELETE", in.Send(http.MethodDelete, path, "", "If-Match", "*"), http.StatusNoContent)
		wantError(t, "GET after DELETE", in.Send(http.MethodGet, path, ""), http.StatusNotFound, "not_found")
		if v := decodeAs[storage.Assistant](t, in.Send(http.MethodGet, path+"/versions/3", "")); v.Prompt != "Short." {
			t.Fatalf("a deleted assistant's version 3 = %+v, want it readable", v)
		}
	})
}

func TestDefaultAssistant(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{NoWorkers: true, Configure: func(c *service.Config) {
		c.Model.Prompt = "You answer for the whole deployment."
		c.Model.Greeting = "Hello from the environment."
	}})
	r := in.Send(http.MethodGet, "/api/v1/assistants/default", "")
	wantStatus(t, "GET default", r, http.StatusOK)
	def := decodeAs[storage.Assistant](t, r)
	if def.ID != "default" || def.Version != 0 || def.Prompt != "You answer for the whole deployment." ||
		def.Greeting != "Hello from the environment." || def.Language != "en-US" || r.Header.Get("ETag") != `"v0"` {
		t.Fatalf("the default assistant = %+v (ETag %s): want the environment's settings", def, r.Header.Get("ETag"))
	}
	wantStatus(t, "GET default version 0", in.Send(http.MethodGet, "/api/v1/assistants/default/versions/0", ""), http.StatusOK)
	wantError(t, "GET default version 1", in.Send(http.MethodGet, "/api/v1/assistants/default/versions/1", ""), http.StatusNotFound, "not_found")
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		wantError(t, m+" default", in.Send(m, "/api/v1/assistants/default", `{"name":"x"}`, "If-Match", `"v0"`), http.StatusConflict, "conflict")
	}
	wantError(t, "reanalyze default", in.Send(http.MethodPost, "/api/v1/assistants/default/reanalyze", ""), http.StatusConflict, "conflict")
	wantError(t, "route a number to default", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+14155550111", "assistant_id": "default"}`),
		http.StatusBadRequest, "invalid", "assistant_id")

	// An incoming call to any number is answered by the default.
	call := twiliotest.NewCall(servicetest.AccountSID)
	voice := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	if !strings.Contains(voice.Body, "Hello from the environment.") {
		t.Fatalf("incoming call: %s", voice.Body)
	}
	if got := in.GetCall(call.CallSID).Assistant; got != storage.DefaultRef {
		t.Fatalf("call assistant = %+v, want the default", got)
	}
}

func TestAssistantsAPIRefusesBadInput(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{NoWorkers: true})
	a := createAssistant(t, in, dentalJSON)
	path := "/api/v1/assistants/" + a.ID
	long := strings.Repeat("x", storage.MaxAssistantPrompt+1)
	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"EveryBadField", `{"name": "", "prompt": 42, "greeting": "Hi", "language": "klingon", "voice": "Polly.Joanna-Neural",
			"call_mode": "stream", "model": {"temperature": 3, "max_tokens": 5, "top_p": 1}, "speech": {"max_reply_chars": "many"},
			"colour": "blue"}`,
			[]string{"colour", "model.top_p", "prompt", "speech.max_reply_chars", "name", "language", "call_mode", "model.temperature", "model.max_tokens"}},
		{"MissingRequired", `{}`, []string{"name", "prompt", "greeting"}},
		{"PromptTooLong", `{"name": "x", "prompt": "` + long + `", "greeting": "Hi"}`, []string{"prompt"}},
		{"VoiceSpeaksAnotherLanguage", `{"name": "x", "prompt": "p", "greeting": "Hi", "language": "de-DE", "voice": "Polly.Joanna-Neural"}`, []string{"voice"}},
		{"SchemaNotAnObjectSchema", `{"name": "x", "prompt": "p", "greeting": "Hi", "analysis_schema": {"type": "string"}}`, []string{"analysis_schema"}},
		{"SchemaInvalid", `{"name": "x", "prompt": "p", "greeting": "Hi", "analysis_schema": {"type": "object", "properties": {"a": {"type": "colour"}}}}`, []string{"analysis_schema"}},
		{"SchemaExternalRef", `{"name": "x", "prompt": "p", "greeting": "Hi", "analysis_schema": {"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}}`, []string{"analysis_schema"}},
		{"SchemaRemoteRef", `{"name": "x", "prompt": "p", "greeting": "Hi", "analysis_schema": {"type": "object", "$ref": "http://169.254.169.254/latest/meta-data"}}`, []string{"analysis_schema"}},
		{"SchemaArray", `{"name": "x", "prompt": "p", "greeting": "Hi", "analysis_schema": [1]}`, []string{"analysis_schema"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, "POST", in.Send(http.MethodPost, "/api/v1/assistants", tc.body), http.StatusBadRequest, "invalid", tc.fields...)
			wantError(t, "PUT", in.Send(http.MethodPut, path, tc.body, "If-Match", `"v1"`), http.StatusBadRequest, "invalid", tc.fields...)
		})
	}
	t.Run("NotJSON", func(t *testing.T) {
		for _, body := range []string{`{"name": `, `[1,2]`, `null`, `{"name":"a"} {"name":"b"}`, "\xff\xfe"} {
			wantError(t, "POST "+body, in.Send(http.MethodPost, "/api/v1/assistants", body), http.StatusBadRequest, "invalid")
		}
		wantError(t, "PATCH with an array", in.Send(http.MethodPatch, path, `[{"op":"replace"}]`, "If-Match", `"v1"`), http.StatusBadRequest, "invalid")
	})
	t.Run("WrongMediaType", func(t *testing.T) {
		r := in.Send(http.MethodPost, "/api/v1/assistants", dentalJSON, "Content-Type", "text/plain")
		wantError(t, "POST text/plain", r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		r = in.Send(http.MethodPatch, path, `{"name":"x"}`, "If-Match", `"v1"`, "Content-Type", "application/json-patch+json")
		wantError(t, "PATCH as a JSON Patch", r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("TooLarge", func(t *testing.T) {
		huge := `{"name": "x", "prompt": "` + strings.Repeat("y", 70<<10) + `", "greeting": "Hi"}`
		// The server answers 413 and closes while the client may still be
		// writing: a reset can hide the answer, so it is asked again.
		for try := 0; ; try++ {
			req, _ := http.NewRequest(http.MethodPost, in.URL+"/api/v1/assistants", strings.NewReader(huge))
			req.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := in.HTTP.Do(req)
			if err != nil && try < 10 {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, "a 70 KiB assistant", servicetest.Response{Status: resp.StatusCode, Body: string(body)}, http.StatusRequestEntityTooLarge, "too_large")
			break
		}
	})
	t.Run("UnknownIDs", func(t *testing.T) {
		for _, p := range []string{"/api/v1/assistants/as_nope", "/api/v1/assistants/" + storage.NewAssistantID(),
			"/api/v1/assistants/" + a.ID + "/versions/9", "/api/v1/assistants/" + a.ID + "/versions/-1",
			"/api/v1/analysis-runs/0", "/api/v1/analysis-runs/99", "/api/v1/numbers/12345", "/api/v1/numbers/+14155550000"} {
			wantError(t, "GET "+p, in.Send(http.MethodGet, p, ""), http.StatusNotFound, "not_found")
		}
	})
	t.Run("BadNumbers", func(t *testing.T) {
		for body, fields := range map[string][]string{
			`{"number": "4155550111", "assistant_id": "` + a.ID + `"}`: {"number"},
			`{"number": 4155550111, "assistant_id": 7}`:                {"assistant_id", "number"},
			`{"number": "+14155550111", "assistant_id": "x", "y": 1}`:  {"y"},
		} {
			wantError(t, "POST "+body, in.Send(http.MethodPost, "/api/v1/numbers", body), http.StatusBadRequest, "invalid", fields...)
		}
	})
	t.Run("BadFilters", func(t *testing.T) {
		for _, q := range []string{"analysis.=1", "analysis.a.b.c.d.e=1", "analysis.a%20b=1", "analysis.a=%7B%7D", "analysis.a=%5B1%5D",
			"assistant=nobody", strings.Repeat("analysis.a=1&", 9)} {
			wantError(t, "GET /calls?"+q, in.Send(http.MethodGet, "/api/v1/calls?"+q, ""), http.StatusBadRequest, "invalid")
		}
	})
	t.Run("BadReanalysis", func(t *testing.T) {
		wantError(t, "since not a time", in.Send(http.MethodPost, path+"/reanalyze", `{"since": "yesterday"}`), http.StatusBadRequest, "invalid", "since")
		wantError(t, "an unknown field", in.Send(http.MethodPost, path+"/reanalyze", `{"until": "2026-01-01T00:00:00Z"}`), http.StatusBadRequest, "invalid", "until")
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, in.URL+"/api/v1/assistants", strings.NewReader(dentalJSON))
		req.Header.Set("Content-Type", "application/json")
		wantError(t, "POST without a token", in.Do(req), http.StatusUnauthorized, "unauthorized")
	})
	// Nothing of the above was stored.
	list := decodeAs[struct{ Assistants []storage.Assistant }](t, in.Send(http.MethodGet, "/api/v1/assistants", ""))
	if len(list.Assistants) != 1 || list.Assistants[0].Version != 1 {
		t.Fatalf("after refused requests: %+v", list.Assistants)
	}
}

// TestCallsRunWithTheirNumbersAssistant runs calls to two numbers and one
// unrouted number through the webhooks: each is greeted, spoken to and
// summarized by its own assistant's version, and a call made before an
// update keeps the version it ran with.
func TestCallsRunWithTheirNumbersAssistant(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	dental := createAssistant(t, in, dentalJSON)
	garage := createAssistant(t, in, `{"name": "Garage", "prompt": "You answer for Joe's Garage.", "greeting": "Joe's Garage, hello!",
		"language": "es-MX", "voice": "Polly.Mia-Neural", "speech": {"max_silence": 1}}`)
	for number, id := range map[string]string{"+14155550101": dental.ID, "+14155550102": garage.ID} {
		wantStatus(t, "POST /numbers", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "`+number+`", "assistant_id": "`+id+`"}`), http.StatusCreated)
	}
	call := func(to string) (twiliotest.Call, string) {
		c := twiliotest.NewCall(servicetest.AccountSID)
		c.To = to
		r := in.Webhook("/twilio/voice", c.Form("CallStatus", "ringing"))
		wantStatus(t, "incoming call", r, http.StatusOK)
		return c, r.Body
	}
	d, body := call("+14155550101")
	if !strings.Contains(body, "Smile Dental, how can I help?") || !strings.Contains(body, `voice="Polly.Amy-Neural"`) || !strings.Contains(body, `language="en-GB"`) {
		t.Fatalf("dental call greeting: %s", body)
	}
	g, body := call("+14155550102")
	if !strings.Contains(body, "Joe&#39;s Garage, hello!") || !strings.Contains(body, `voice="Polly.Mia-Neural"`) || !strings.Contains(body, `language="es-MX"`) {
		t.Fatalf("garage call greeting: %s", body)
	}
	_, body = call("+14155550199")
	if !strings.Contains(body, service.Defaults().Model.Greeting) {
		t.Fatalf("unrouted call greeting: %s", body)
	}
	// The garage's caller is silent: its assistant asks once, then ends.
	r := in.Webhook("/twilio/gather?silence=1&turn=1", g.Form("CallStatus", "in-progress"))
	if !strings.Contains(r.Body, "<Hangup") || !strings.Contains(r.Body, `voice="Polly.Mia-Neural"`) {
		t.Fatalf("garage silence with max_silence 1: %s", r.Body)
	}
	// The dental assistant changes; the call in progress keeps version 1.
	wantStatus(t, "PATCH dental", in.Send(http.MethodPatch, "/api/v1/assistants/"+dental.ID, `{"greeting": "New greeting.", "voice": "Polly.Brian-Neural"}`,
		"If-Match", `"v1"`), http.StatusOK)
	r = in.Webhook("/twilio/gather?turn=1", d.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?"))
	if !strings.Contains(r.Body, `voice="Polly.Amy-Neural"`) {
		t.Fatalf("the call made before the update spoke with another voice: %s", r.Body)
	}
	if got := in.GetCall(d.CallSID).Assistant; got != (storage.AssistantRef{ID: dental.ID, Version: 1}) {
		t.Fatalf("call made before the update: %+v", got)
	}
	d2, body := call("+14155550101")
	if !strings.Contains(body, "New greeting.") || !strings.Contains(body, `voice="Polly.Brian-Neural"`) {
		t.Fatalf("call after the update: %s", body)
	}
	if got := in.GetCall(d2.CallSID).Assistant; got != (storage.AssistantRef{ID: dental.ID, Version: 2}) {
		t.Fatalf("call made after the update: %+v", got)
	}
	// Listing by assistant.
	page := decodeAs[struct{ Calls []storage.Call }](t, in.Send(http.MethodGet, "/api/v1/calls?assistant="+dental.ID, ""))
	if len(page.Calls) != 2 {
		t.Fatalf("calls of the dental assistant: %+v", page.Calls)
	}
}

// TestAnalysisAndReanalysis: calls are analyzed with their assistant's
// schema after they end; a schema change and a re-analysis run over past
// calls update their fields, the run's progress is readable, and the
// calls filter finds the new fields.
func TestAnalysisAndReanalysis(t *testing.T) {
	onBothStores(t, func(t *testing.T, in *servicetest.Instance) {
		a := createAssistant(t, in, `{"name": "Dental", "prompt": "p", "greeting": "Hello.",
			"analysis_schema": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}}`)
		wantStatus(t, "POST /numbers", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+14155550101", "assistant_id": "`+a.ID+`"}`), http.StatusCreated)
		said := []string{"I would like to book an appointment please", "What are your opening hours?"}
		var calls []twiliotest.Call
		for _, words := range said {
			c := twiliotest.NewCall(servicetest.AccountSID)
			c.To = "+14155550101"
			in.Webhook("/twilio/voice", c.Form("CallStatus", "ringing"))
			in.Webhook("/twilio/gather?turn=1", c.Form("CallStatus", "in-progress", "SpeechResult", words))
			in.Webhook("/twilio/status", c.Form("CallStatus", "completed", "CallDuration", "30"))
			calls = append(calls, c)
		}
		drain(t, in)
		first := in.GetCall(calls[0].CallSID)
		if first.Analysis == nil || first.Analysis.AssistantVersion != 1 || !strings.Contains(string(first.Analysis.Fields), `"reason":"an appointment"`) {
			t.Fatalf("analysis after the call: %+v", first.Analysis)
		}
		// The schema gains a field; a re-analysis fills it in for past calls.
		wantStatus(t, "PATCH schema", in.Send(http.MethodPatch, "/api/v1/assistants/"+a.ID,
			`{"analysis_schema": {"properties": {"booked": {"type": "boolean"}}, "required": ["reason", "booked"]}}`, "If-Match", `"v1"`), http.StatusOK)
		r := in.Send(http.MethodPost, "/api/v1/assistants/"+a.ID+"/reanalyze", `{"since": "2000-01-01T00:00:00Z"}`)
		wantStatus(t, "reanalyze", r, http.StatusAccepted)
		run := decodeAs[storage.AnalysisRun](t, r)
		if run.Total != 2 || run.Pending != 2 || run.Status != storage.RunRunning || run.Version != 2 {
			t.Fatalf("run = %+v", run)
		}
		wantError(t, "a second run meanwhile", in.Send(http.MethodPost, "/api/v1/assistants/"+a.ID+"/reanalyze", ""), http.StatusConflict, "conflict")
		drain(t, in)
		done := decodeAs[storage.AnalysisRun](t, in.Send(http.MethodGet, r.Header.Get("Location"), ""))
		if done.Done != 2 || done.Pending != 0 || done.Status != storage.RunCompleted {
			t.Fatalf("run after the workers = %+v", done)
		}
		page := decodeAs[struct{ Calls []storage.Call }](t, in.Send(http.MethodGet, "/api/v1/calls?analysis.booked=true", ""))
		if len(page.Calls) != 1 || page.Calls[0].SID != calls[0].CallSID || page.Calls[0].Analysis.AssistantVersion != 2 {
			t.Fatalf("calls with analysis.booked=true: %+v", page.Calls)
		}
		page = decodeAs[struct{ Calls []storage.Call }](t, in.Send(http.MethodGet, "/api/v1/calls?analysis.booked=false&analysis.reason=hours", ""))
		if len(page.Calls) != 1 || page.Calls[0].SID != calls[1].CallSID {
			t.Fatalf("calls with analysis.booked=false and reason hours: %+v", page.Calls)
		}
		// The version a call ran with is still readable as it was.
		if v := decodeAs[storage.Assistant](t, in.Send(http.MethodGet, "/api/v1/assistants/"+a.ID+"/versions/1", "")); strings.Contains(string(v.AnalysisSchema), "booked") {
			t.Fatalf("version 1 changed: %s", v.AnalysisSchema)
		}
	})
}

// drain runs every due work item on the instance's pool.
func drain(t *testing.T, in *servicetest.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	in.Workers.Drain(ctx)
}
