package e2e

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/openai"
	"switchboard/assistant/openai/openaitest"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// TestAssistantsAsData: one deployment of two instances on one PostgreSQL
// answers two numbers with two assistants, each call with its own greeting
// and prompt (as the model receives it, over HTTP, from whichever instance
// takes the turn); a prompt updated through one instance's API is in effect
// for the next call on both; a call made before the update keeps the
// version it ran with; and a schema change with a re-analysis updates past
// calls' structured fields, which the calls filter then finds.
func TestAssistantsAsData(t *testing.T) {
	var fake *openaitest.Server
	fake = openaitest.New(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		req := fake.Request(n).Body
		last := req.Messages[len(req.Messages)-1].Content
		switch {
		case req.Analysis():
			fields := map[string]any{"reason": "hours"}
			if strings.Contains(last, "book") {
				fields["reason"] = "appointment"
			}
			if strings.Contains(string(req.ResponseFormat.JSONSchema.Schema), `"booked"`) {
				fields["booked"] = strings.Contains(last, "book")
			}
			doc, _ := json.Marshal(fields)
			openaitest.WriteJSON(w, 200, openaitest.Completion(string(doc)))
		case req.Summary():
			openaitest.WriteJSON(w, 200, openaitest.Completion(`{"summary": "A call.", "reason": "a question", "outcome": "answered", "follow_up": false}`))
		default:
			// The reply names the business the system prompt described.
			system := req.Messages[0].Content
			openaitest.WriteJSON(w, 200, openaitest.Completion("Answering for: "+strings.SplitN(system, "\n", 2)[0]))
		}
	})
	c := startInstances(t, 2, pgtest.MigratedURL(t), clusterOptions{assistant: func(int) assistant.Assistant {
		a, err := openai.New(openai.Config{BaseURL: fake.BaseURL(), Model: "test-model", Temperature: 0.3, MaxTokens: 150, StructuredOutput: true},
			assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}})
	one, two := c.instances[0], c.instances[1]

	dental := create(t, one, `{"name": "Dental", "prompt": "You answer the telephone of Smile Dental.", "greeting": "Smile Dental, hello!",
		"analysis_schema": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"], "additionalProperties": false}}`)
	garage := create(t, two, `{"name": "Garage", "prompt": "You answer the telephone of Joe's Garage.", "greeting": "Joe's Garage, hi!",
		"model": {"name": "garage-model"}}`)
	const dentalNumber, garageNumber = "+14155550201", "+14155550202"
	send(t, one, http.MethodPost, "/api/v1/numbers", `{"number": "`+dentalNumber+`", "assistant_id": "`+dental.ID+`"}`, http.StatusCreated)
	send(t, two, http.MethodPost, "/api/v1/numbers", `{"number": "`+garageNumber+`", "assistant_id": "`+garage.ID+`"}`, http.StatusCreated)

	// calls drives calls: the incoming webhook on one instance, each turn
	// on the other, and returns what the caller heard.
	type heard struct{ greeting, reply string }
	turn := func(in *servicetest.Instance, call twiliotest.Call, n int, said string) string {
		t.Helper()
		r := in.Webhook("/twilio/gather?turn="+itoa(n), call.Form("CallStatus", "in-progress", "SpeechResult", said))
		if r.Status != http.StatusOK {
			t.Fatalf("turn %d: %d %s", n, r.Status, r.Body)
		}
		return r.Body
	}
	start := func(in *servicetest.Instance, to string) (twiliotest.Call, string) {
		t.Helper()
		call := twiliotest.NewCall(servicetest.AccountSID)
		call.To = to
		r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
		if r.Status != http.StatusOK {
			t.Fatalf("incoming call: %d %s", r.Status, r.Body)
		}
		return call, r.Body
	}
	d1, g := start(one, dentalNumber)
	dentalHeard := heard{g, turn(two, d1, 1, "Can I book a cleaning?")}
	g1, g := start(two, garageNumber)
	garageHeard := heard{g, turn(one, g1, 1, "When are you open?")}
	if !strings.Contains(dentalHeard.greeting, "Smile Dental, hello!") || !strings.Contains(dentalHeard.reply, "Answering for: You answer the telephone of Smile Dental.") {
		t.Errorf("the dental call heard %+v", dentalHeard)
	}
	if !strings.Contains(garageHeard.greeting, "Joe&#39;s Garage, hi!") || !strings.Contains(garageHeard.reply, "Answering for: You answer the telephone of Joe&#39;s Garage.") {
		t.Errorf("the garage call heard %+v", garageHeard)
	}
	for _, r := range fake.Requests() {
		if strings.Contains(r.Body.Messages[0].Content, "Joe's Garage") && r.Body.Model != "garage-model" {
			t.Errorf("a garage turn asked model %q, want its assistant's garage-model", r.Body.Model)
		}
	}

	// The dental prompt changes through the second instance's API; the
	// next call on either instance has it, with no wait.
	updated := time.Now()
	v2 := send(t, two, http.MethodPatch, "/api/v1/assistants/"+dental.ID, `{"prompt": "You answer the telephone of Smile Dental, now open on Saturdays."}`,
		http.StatusOK, "If-Match", `"v1"`)
	if v2.Version != 2 {
		t.Fatalf("after the PATCH: version %d", v2.Version)
	}
	var effective []time.Duration
	for i, in := range []*servicetest.Instance{one, two} {
		call, _ := start(in, dentalNumber)
		body := turn(in, call, 1, "Are you open at the weekend?")
		effective = append(effective, time.Since(updated))
		if !strings.Contains(body, "now open on Saturdays") {
			t.Errorf("a call on instance %d after the update answered %s", i, body)
		}
		in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "20"))
	}
	t.Logf("the updated prompt answered its first turn on each instance %v after the PATCH returned (no cache to expire)", effective)

	// The call made before the update still runs, and reads, as version 1.
	body := turn(one, d1, 2, "Thanks, and the price?")
	if strings.Contains(body, "Saturdays") || !strings.Contains(body, "Smile Dental.") {
		t.Errorf("the call made before the update answered with the new prompt: %s", body)
	}
	if got := one.GetCall(d1.CallSID).Assistant; got != (storage.AssistantRef{ID: dental.ID, Version: 1}) {
		t.Errorf("the call made before the update reads as %+v", got)
	}
	for _, call := range []twiliotest.Call{d1, g1} {
		two.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "60"))
	}

	// Every dental call is analyzed with its version's schema; the garage
	// has none.
	dentalCalls := func() []storage.Call {
		return getJSON[struct{ Calls []storage.Call }](t, one, "/api/v1/calls?assistant="+dental.ID).Calls
	}
	servicetest.Eventually(t, 20*time.Second, "the dental calls analyzed", func() bool {
		calls := dentalCalls()
		for _, call := range calls {
			if call.Analysis == nil {
				return false
			}
		}
		return len(calls) == 3
	})
	// The garage call's summary is separate work, which may still be running.
	servicetest.Eventually(t, 20*time.Second, "the garage call summarized", func() bool {
		return two.GetCall(g1.CallSID).Summary != nil
	})
	if got := two.GetCall(g1.CallSID); got.Analysis != nil || got.Summary == nil {
		t.Errorf("the garage call: analysis %+v, summary %+v; want a summary and no analysis", got.Analysis, got.Summary)
	}
	if got := one.GetCall(d1.CallSID).Analysis; got.AssistantVersion != 1 || !sameJSON(got.Fields, `{"reason":"appointment"}`) {
		t.Errorf("the first dental call's analysis: %+v %s", got, got.Fields)
	}

	// The schema gains "booked": a re-analysis fills it in for past calls.
	v3 := send(t, one, http.MethodPatch, "/api/v1/assistants/"+dental.ID,
		`{"analysis_schema": {"properties": {"booked": {"type": "boolean"}}, "required": ["reason", "booked"]}}`, http.StatusOK, "If-Match", `"v2"`)
	run := sendRun(t, two, "/api/v1/assistants/"+dental.ID+"/reanalyze", `{}`)
	if run.Total != 3 || run.Version != v3.Version {
		t.Fatalf("run %+v, want the 3 dental calls at version %d", run, v3.Version)
	}
	var progress []string
	servicetest.Eventually(t, 20*time.Second, "the run completed", func() bool {
		r := getJSON[storage.AnalysisRun](t, one, "/api/v1/analysis-runs/"+itoa(int(run.ID)))
		if p := itoa(r.Done) + "/" + itoa(r.Total); len(progress) == 0 || progress[len(progress)-1] != p {
			progress = append(progress, p)
		}
		return r.Status == storage.RunCompleted
	})
	t.Logf("run progress seen: %v", progress)
	booked := getJSON[struct{ Calls []storage.Call }](t, two, "/api/v1/calls?analysis.booked=true").Calls
	if len(booked) != 1 || booked[0].SID != d1.CallSID || booked[0].Analysis.AssistantVersion != 3 {
		t.Errorf("analysis.booked=true found %+v, want the first dental call at version 3", booked)
	}
	notBooked := getJSON[struct{ Calls []storage.Call }](t, one, "/api/v1/calls?analysis.booked=false&analysis.reason=hours").Calls
	if len(notBooked) != 2 {
		t.Errorf("analysis.booked=false&analysis.reason=hours found %d calls, want the 2 later dental calls", len(notBooked))
	}
	// What the model was given for the analyses: the assistant's schema
	// as structured output, strict once it allows no other fields.
	var strict []bool
	for _, r := range fake.Requests() {
		if r.Body.Analysis() {
			strict = append(strict, r.Body.ResponseFormat.JSONSchema.Strict)
		}
	}
	if len(strict) != 6 || !strict[0] || !strict[5] {
		t.Errorf("analysis requests (strict?) %v, want 3 after the calls and 3 for the run, all strict", strict)
	}
}

func create(t *testing.T, in *servicetest.Instance, body string) storage.Assistant {
	t.Helper()
	return send(t, in, http.MethodPost, "/api/v1/assistants", body, http.StatusCreated)
}

// send performs an API request and decodes the assistant it answers.
func send(t *testing.T, in *servicetest.Instance, method, path, body string, want int, header ...string) storage.Assistant {
	t.Helper()
	var a storage.Assistant
	r := in.Send(method, path, body, header...)
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	_ = json.Unmarshal([]byte(r.Body), &a)
	return a
}

func sendRun(t *testing.T, in *servicetest.Instance, path, body string) storage.AnalysisRun {
	t.Helper()
	r := in.Send(http.MethodPost, path, body)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
	}
	var run storage.AnalysisRun
	if err := json.Unmarshal([]byte(r.Body), &run); err != nil {
		t.Fatal(err)
	}
	return run
}

func getJSON[T any](t *testing.T, in *servicetest.Instance, path string) T {
	t.Helper()
	r := in.Send(http.MethodGet, path, "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var v T
	if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func sameJSON(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func itoa(n int) string { return strconv.Itoa(n) }
