package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// actingJSON is an assistant with a warm transfer target and a business
// tool at toolURL; the scripted assistant transfers on "transfer me to
// sales" and calls the tool on "use order_status {…}".
func actingJSON(toolURL, timeout string) string {
	return `{"name": "Shop", "prompt": "You answer the telephone of a shop.", "greeting": "Shop, how can I help?",
		"transfer_targets": [{"name": "Sales", "number": "+14155550100", "description": "New orders and prices.", "mode": "warm"},
			{"name": "Desk", "number": "sip:desk@pbx.example.com", "description": "Anything else.", "mode": "cold"}],
		"tools": [{"name": "order_status", "description": "Looks an order up.", "url": "` + toolURL + `", "timeout": "` + timeout + `",
			"parameters": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"], "additionalProperties": false}}]}`
}

// routedNumbers numbers the routed calls' To numbers: each its own, as
// routes are unique per number (the clock's low digits collided on
// machines whose clock counts in microseconds).
var routedNumbers atomic.Int64

// routedCall is a call to a number routed to a new assistant made from body.
func routedCall(t *testing.T, in *servicetest.Instance, body string) (twiliotest.Call, storage.Assistant) {
	t.Helper()
	a := createAssistant(t, in, body)
	call := twiliotest.NewCall(servicetest.AccountSID)
	call.To = fmt.Sprintf("+1800555%04d", 2000+routedNumbers.Add(1))
	wantStatus(t, "route", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "`+call.To+`", "assistant_id": "`+a.ID+`"}`), 201)
	wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
	return call, a
}

func TestWarmTransferGather(t *testing.T) {
	onBothStores(t, func(t *testing.T, in *servicetest.Instance) {
		call, _ := routedCall(t, in, actingJSON("http://127.0.0.1:1/unused", "1s"))
		r := in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "Please transfer me to sales about my order"))
		wantStatus(t, "gather", r, 200)
		whisperURL := "/twilio/whisper?call=" + call.CallSID + "&amp;turn=1"
		for _, want := range []string{"Please hold while I transfer you to Sales.", `/twilio/transfer?turn=1" method="POST"`,
			`answerOnBridge="true"`, whisperURL + `" method="POST">+14155550100</Number></Dial>`} {
			if !strings.Contains(r.Body, want) {
				t.Fatalf("transfer TwiML lacks %q:\n%s", want, r.Body)
			}
		}
		// A repeated delivery of the turn dials the same transfer again.
		if again := in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "Please transfer me to sales about my order")); again.Body != r.Body {
			t.Fatalf("repeated turn answered differently:\n%s\n%s", r.Body, again.Body)
		}

		// The target answers: its leg's whisper request says the summary
		// prepared with the turn, and creates no call.
		child := call.Leg("+14155550100")
		w := in.Webhook("/twilio/whisper?call="+call.CallSID+"&turn=1", child.LegForm(call.CallSID))
		wantStatus(t, "whisper", w, 200)
		if !strings.Contains(w.Body, "<Say") || !strings.Contains(w.Body, "They said: Please transfer me to sales about my order") {
			t.Fatalf("whisper TwiML:\n%s", w.Body)
		}
		if r := in.API(http.MethodGet, "/api/v1/calls/"+child.CallSID); r.Status != http.StatusNotFound {
			t.Fatalf("the target's leg became a call: %d %s", r.Status, r.Body)
		}
		forged := in.Webhook("/twilio/whisper?call="+call.CallSID+"&turn=1", child.LegForm(twiliotest.SID("CA")))
		wantStatus(t, "whisper of another parent", forged, 400)

		// Busy: the caller is back with the assistant, which says so and
		// asks the next turn; the conversation carries on.
		back := in.Webhook("/twilio/transfer?turn=1", call.DialAction("busy", child.CallSID, 0))
		wantStatus(t, "dial action", back, 200)
		for _, want := range []string{"I&#39;m sorry, I couldn&#39;t reach Sales.", "/twilio/gather?turn=2"} {
			if !strings.Contains(back.Body, want) {
				t.Fatalf("after busy, TwiML lacks %q:\n%s", want, back.Body)
			}
		}
		next := in.Webhook("/twilio/gather?turn=2", call.Form("CallStatus", "in-progress", "SpeechResult", "When are you open?"))
		if !strings.Contains(next.Body, "Monday to Friday") || !strings.Contains(next.Body, "turn=3") {
			t.Fatalf("the conversation did not carry on:\n%s", next.Body)
		}
		got := in.GetCall(call.CallSID)
		if len(got.Transfers) != 1 {
			t.Fatalf("transfers: %+v", got.Transfers)
		}
		tr := got.Transfers[0]
		if tr.Status != "busy" || tr.ChildCallSID != child.CallSID || tr.Target != "Sales" || tr.Mode != storage.TransferWarm || tr.AnsweredAt == nil || tr.EndedAt == nil || tr.Turn != 1 {
			t.Fatalf("stored transfer: %+v", tr)
		}
		if len(got.Turns) != 5 || got.Turns[2].Transfer == nil {
			t.Fatalf("turns: %+v", got.Turns)
		}

		// The API shows it, and the target's number never reached the model
		// (the scripted assistant's words are all there is).
		api := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID)
		if !strings.Contains(api.Body, `"transfers":[{"turn":1,"target":"Sales"`) || !strings.Contains(api.Body, `"status":"busy"`) {
			t.Fatalf("API: %s", api.Body)
		}
	})
}

func TestColdTransferConnected(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call, _ := routedCall(t, in, actingJSON("http://127.0.0.1:1/unused", "1s"))
	r := in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "Can I talk to desk please"))
	if !strings.Contains(r.Body, `<Sip>sip:desk@pbx.example.com</Sip>`) || strings.Contains(r.Body, "whisper") {
		t.Fatalf("cold SIP transfer TwiML:\n%s", r.Body)
	}
	done := in.Webhook("/twilio/transfer?turn=1", call.DialAction("completed", twiliotest.SID("CA"), 42))
	if !strings.Contains(done.Body, "<Hangup></Hangup>") {
		t.Fatalf("after a completed transfer:\n%s", done.Body)
	}
	tr := in.GetCall(call.CallSID).Transfers[0]
	if tr.Status != "completed" || tr.TalkSeconds != 42 || !tr.Connected() {
		t.Fatalf("stored transfer: %+v", tr)
	}
	for name, form := range map[string][]string{
		"UnknownStatus": {"DialCallStatus", "exploded"},
		"BadDuration":   {"DialCallStatus", "busy", "DialCallDuration", "soon"},
		"BadChild":      {"DialCallStatus", "busy", "DialCallSid", "CAxyz"},
	} {
		wantStatus(t, name, in.Webhook("/twilio/transfer?turn=1", call.Form(form...)), 400)
	}
	wantStatus(t, "no transfer at that turn", in.Webhook("/twilio/transfer?turn=7", call.Form("DialCallStatus", "busy")), 404)
}

// toolServer is a business endpoint that verifies each request's
// signature with the Standard Webhooks library.
type toolServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	verified int
	secret   string
	answer   func(w http.ResponseWriter, body map[string]any)
}

func newToolServer(t *testing.T) *toolServer {
	ts := &toolServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts.mu.Lock()
		ts.bodies = append(ts.bodies, string(body))
		secret, answer := ts.secret, ts.answer
		ts.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		ts.mu.Lock()
		ts.verified++
		ts.mu.Unlock()
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		answer(w, req)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *toolServer) count() (int, int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.bodies), ts.verified
}

func TestBusinessToolGather(t *testing.T) {
	ts := newToolServer(t)
	ts.answer = func(w http.ResponseWriter, req map[string]any) {
		args, _ := req["arguments"].(map[string]any)
		switch args["order"] {
		case "SLOW":
			time.Sleep(3 * time.Second)
		case "FAIL":
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"order": %q, "status": "shipped"}`, args["order"])
	}
	in := servicetest.Start(t, servicetest.Options{})
	call, a := routedCall(t, in, actingJSON(ts.URL+"/tools/order", "500ms"))
	if len(a.Tools) != 1 || !strings.HasPrefix(a.Tools[0].Secret, "whsec_") {
		t.Fatalf("the create response does not show the tool's new secret: %+v", a.Tools)
	}
	ts.secret = a.Tools[0].Secret
	if got := in.API(http.MethodGet, "/api/v1/assistants/"+a.ID); strings.Contains(got.Body, "whsec_") {
		t.Fatalf("GET shows the secret again: %s", got.Body)
	}

	turn := 0
	say := func(words string) (string, time.Duration) {
		turn++
		start := time.Now()
		r := in.Webhook(fmt.Sprintf("/twilio/gather?turn=%d", turn), call.Form("CallStatus", "in-progress", "SpeechResult", words))
		wantStatus(t, words, r, 200)
		return r.Body, time.Since(start)
	}

	body, _ := say(`use order_status {"order": "A-1"}`)
	if !strings.Contains(body, "order status says {&#34;order&#34;: &#34;A-1&#34;, &#34;status&#34;: &#34;shipped&#34;}") {
		t.Fatalf("the result is not spoken:\n%s", body)
	}
	if sent, ok := ts.count(); sent != 1 || ok != 1 {
		t.Fatalf("tool requests %d, verified %d", sent, ok)
	}
	var req struct {
		Tool string `json:"tool"`
		Call struct {
			SID string `json:"sid"`
		} `json:"call"`
		Arguments map[string]string `json:"arguments"`
	}
	if err := json.Unmarshal([]byte(ts.bodies[0]), &req); err != nil || req.Tool != "order_status" || req.Call.SID != call.CallSID || req.Arguments["order"] != "A-1" {
		t.Fatalf("tool request %s: %v", ts.bodies[0], err)
	}

	// Invalid arguments are refused before any request.
	body, _ = say(`use order_status {"order": 5}`)
	if !strings.Contains(body, "invalid arguments") {
		t.Fatalf("invalid arguments:\n%s", body)
	}
	if sent, _ := ts.count(); sent != 1 {
		t.Fatalf("invalid arguments reached the tool (%d requests)", sent)
	}

	// A timeout and a 500 are told to the caller within the turn.
	body, took := say(`use order_status {"order": "SLOW"}`)
	if !strings.Contains(body, "did not answer within") || took > 2500*time.Millisecond {
		t.Fatalf("timeout after %s:\n%s", took, body)
	}
	body, _ = say(`use order_status {"order": "FAIL"}`)
	if !strings.Contains(body, "answered HTTP 500") {
		t.Fatalf("500:\n%s", body)
	}

	// Every call is on its turn, in the API.
	got := in.GetCall(call.CallSID)
	var calls []storage.ToolCall
	for _, tu := range got.Turns {
		calls = append(calls, tu.ToolCalls...)
	}
	if len(calls) != 4 || string(calls[0].Result) != `{"order":"A-1","status":"shipped"}` || calls[0].DurationMS <= 0 ||
		!strings.Contains(calls[1].Error, "invalid arguments") || !strings.Contains(calls[2].Error, "did not answer") || !strings.Contains(calls[3].Error, "500") {
		t.Fatalf("stored tool calls: %+v", calls)
	}
	api := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID)
	if !strings.Contains(api.Body, `"tool_calls":[{"id":"scripted_1","name":"order_status","arguments":{"order":"A-1"},"result":{"order":"A-1","status":"shipped"}`) {
		t.Fatalf("API: %s", api.Body)
	}
}

func TestToolsAndTargetsRefused(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	for name, body := range map[string]string{
		"MetadataURL":    actingJSON("http://169.254.169.254/latest/meta-data/", "1s"),
		"NumericURL":     actingJSON("http://2852039166/", "1s"),
		"LongTimeout":    actingJSON("https://tools.example/x", "1m"),
		"BadTarget":      `{"name": "x", "prompt": "p", "greeting": "g", "transfer_targets": [{"name": "A", "number": "123", "description": "d", "mode": "hot"}]}`,
		"ReservedTool":   `{"name": "x", "prompt": "p", "greeting": "g", "tools": [{"name": "end_call", "description": "d", "url": "https://t.example", "parameters": {"type": "object"}}]}`,
		"SchemaNotValid": `{"name": "x", "prompt": "p", "greeting": "g", "tools": [{"name": "t", "description": "d", "url": "https://t.example", "parameters": {"type": "object", "properties": {"a": {"type": 5}}}}]}`,
	} {
		r := in.Send(http.MethodPost, "/api/v1/assistants", body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

// TestDialCallStatuses: every DialCallStatus Twilio posts to the <Dial
// action> URL once the dialled call ends ("completed", "answered", "busy",
// "no-answer", "failed", "canceled"; the <Dial> TwiML page's action
// section, https://www.twilio.com/docs/voice/twiml/dial#action, whose
// answer TwiML the call then runs). A connected transfer is over and the
// call hangs up when the target does; otherwise the caller is back with
// the assistant, which says so and asks the next turn. A caller who hung
// up meanwhile (CallStatus completed) hears nothing.
func TestDialCallStatuses(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	a := createAssistant(t, in, actingJSON("http://127.0.0.1:1/unused", "1s"))
	for i, tt := range []struct {
		status, callStatus string
		back               bool
	}{
		{"completed", "in-progress", false},
		{"answered", "in-progress", false},
		{"busy", "in-progress", true},
		{"no-answer", "in-progress", true},
		{"failed", "in-progress", true},
		{"canceled", "in-progress", true},
		{"no-answer", "completed", false},
	} {
		t.Run(tt.status+"/"+tt.callStatus, func(t *testing.T) {
			call := twiliotest.NewCall(servicetest.AccountSID)
			call.To = fmt.Sprintf("+1800556%04d", i) // a number of its own: routes are unique
			wantStatus(t, "route", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "`+call.To+`", "assistant_id": "`+a.ID+`"}`), 201)
			wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
			in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "Transfer me to sales"))
			form := call.DialAction(tt.status, twiliotest.SID("CA"), 3)
			form.Set("CallStatus", tt.callStatus)
			r := in.Webhook("/twilio/transfer?turn=1", form)
			wantStatus(t, "dial action", r, 200)
			back := strings.Contains(r.Body, "couldn&#39;t reach Sales") && strings.Contains(r.Body, "/twilio/gather?turn=2")
			if back != tt.back || !back && !strings.Contains(r.Body, "<Hangup>") {
				t.Fatalf("DialCallStatus %s with CallStatus %s answered:\n%s", tt.status, tt.callStatus, r.Body)
			}
			if got := in.GetCall(call.CallSID).Transfers[0]; got.Status != tt.status || got.EndedAt == nil {
				t.Fatalf("stored transfer: %+v", got)
			}
		})
	}
}

// TestConsoleShowsTransfersAndTools: the console's call page marks the
// turns that called tools or transferred, with each tool's arguments and
// result or error, and the transfer's target and outcome; its timeline has
// the transfer's steps, the target's call leg linked to the call.
func TestConsoleShowsTransfersAndTools(t *testing.T) {
	ts := newToolServer(t)
	ts.answer = func(w http.ResponseWriter, _ map[string]any) { fmt.Fprint(w, `{"status":"shipped"}`) }
	in := startConsole(t)
	call, a := routedCall(t, in, actingJSON(ts.URL+"/tools/order", "1s"))
	ts.mu.Lock()
	ts.secret = a.Tools[0].Secret
	ts.mu.Unlock()
	in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", `use order_status {"order": "A-1"}`))
	in.Webhook("/twilio/gather?turn=2", call.Form("CallStatus", "in-progress", "SpeechResult", "Transfer me to sales"))
	leg := call.Leg("+14155550100")
	in.Webhook("/twilio/whisper?call="+call.CallSID+"&turn=2", leg.LegForm(call.CallSID))
	in.Webhook("/twilio/transfer?turn=2", call.DialAction("busy", leg.CallSID, 0))
	in.Webhook("/twilio/gather?turn=3", call.Form("CallStatus", "in-progress", "SpeechResult", `use order_status {"order": 5}`))

	client := browserClient(t)
	signIn(t, client, in.URL, servicetest.APIToken)
	p := get(t, client, in.URL, "/console/calls/"+call.CallSID)
	if p.status != http.StatusOK {
		t.Fatalf("call page: %d", p.status)
	}
	for _, want := range []string{
		`<span class="tag tool">called 1 tool</span>`,
		`<span class="tool-name">order_status</span>(<code>{&#34;order&#34;: &#34;A-1&#34;}</code>) → <code>{&#34;status&#34;:&#34;shipped&#34;}</code>`,
		`<span class="fail">failed: invalid arguments`,
		`<span class="tag transfer">transferred to Sales</span>`,
		`Transfer to <strong>Sales</strong> (warm): busy: the caller came back to the assistant; the target's call leg <code>` + leg.CallSID + `</code>.`,
		// The status timeline has the transfer's steps.
		`<span class="event">transfer to Sales (warm) requested</span>`,
		`<span class="event">Sales answered on call leg ` + leg.CallSID + `</span>`,
		`<span class="event">transfer to Sales ended: busy: the caller came back to the assistant</span>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the call page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", p.body)
	}
}
