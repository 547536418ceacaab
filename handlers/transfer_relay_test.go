package handlers_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/assistant/openai"
	"switchboard/assistant/openai/openaitest"
	"switchboard/handlers/relaytest"
	"switchboard/runtime/outbound"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// relayActingJSON is actingJSON for an assistant whose calls stream.
func relayActingJSON(toolURL, timeout string) string {
	return strings.Replace(actingJSON(toolURL, timeout), `"name": "Shop",`, `"name": "Shop", "call_mode": "relay",`, 1)
}

// relayResume is the TwiML that hands a call back to ConversationRelay.
type relayResume struct {
	XMLName xml.Name  `xml:"Response"`
	Start   *struct{} `xml:"Start"`
	Connect struct {
		Action string `xml:"action,attr"`
		Relay  struct {
			URL             string `xml:"url,attr"`
			WelcomeGreeting string `xml:"welcomeGreeting,attr"`
		} `xml:"ConversationRelay"`
	} `xml:"Connect"`
}

// transferOverRelay asks for a transfer on socket c and returns the
// handoff the session ended with.
func transferOverRelay(t *testing.T, c *relaytest.Client, words string) (string, map[string]any) {
	t.Helper()
	said, _ := ask(t, c, words)
	end, err := c.Next(10 * time.Second)
	if err != nil || end.Type != "end" {
		t.Fatalf("after the transfer's words, want an end message; got %+v, %v", end, err)
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(end.HandoffData), &h); err != nil {
		t.Fatalf("handoffData %q: %v", end.HandoffData, err)
	}
	return said, h
}

// TestWarmTransferRelay: a streamed call's warm transfer, end to end with
// the fake Twilio. The session says the transfer's words and ends; the
// <Connect action> callback dials the target with the whisper URL; the
// target's leg hears the summary prepared with the turn and creates no
// call; busy, then no-answer, bring the caller back to the assistant in a
// new ConversationRelay session that carries on the stored conversation,
// the same request included.
func TestWarmTransferRelay(t *testing.T) {
	onBothStores(t, func(t *testing.T, in *servicetest.Instance) {
		call, _ := routedCall(t, in, relayActingJSON("http://127.0.0.1:1/unused", "1s"))
		c := reconnect(t, in, call)
		const words = "Please transfer me to sales about my order"
		said, h := transferOverRelay(t, c, words)
		if said != "Please hold while I transfer you to Sales." || h["reason"] != "transfer" || h["turn"] != float64(1) {
			t.Fatalf("transfer turn: said %q, handoff %v", said, h)
		}
		b, _ := json.Marshal(h)
		_ = c.Close()

		// Twilio posts the session's end; the answer dials the target,
		// warm: <Number url> is the whisper, <Dial action> the outcome.
		dial := in.Webhook("/twilio/relay/action", call.Form("CallStatus", "in-progress", "SessionStatus", "ended",
			"SessionId", "VX"+strings.Repeat("1", 32), "HandoffData", string(b)))
		wantStatus(t, "relay action", dial, 200)
		whisperURL := servicetest.PublicBaseURL + "/twilio/whisper?call=" + call.CallSID + "&amp;turn=1"
		for _, want := range []string{`<Dial action="` + servicetest.PublicBaseURL + `/twilio/transfer?turn=1" method="POST"`,
			`answerOnBridge="true"`, `<Number url="` + whisperURL + `" method="POST">+14155550100</Number></Dial>`} {
			if !strings.Contains(dial.Body, want) {
				t.Fatalf("relay action TwiML lacks %q:\n%s", want, dial.Body)
			}
		}
		if strings.Contains(dial.Body, "<Say") {
			t.Fatalf("the session said the transfer's words already:\n%s", dial.Body)
		}

		// Sales answers: its leg's whisper says the prepared summary and
		// creates no call.
		leg := call.Leg("+14155550100")
		w := in.Webhook("/twilio/whisper?call="+call.CallSID+"&turn=1", leg.LegForm(call.CallSID))
		wantStatus(t, "whisper", w, 200)
		if !strings.Contains(w.Body, "<Say") || !strings.Contains(w.Body, "They said: "+words) || strings.Contains(w.Body, "<Dial") {
			t.Fatalf("whisper TwiML:\n%s", w.Body)
		}
		if r := in.API(http.MethodGet, "/api/v1/calls/"+leg.CallSID); r.Status != http.StatusNotFound {
			t.Fatalf("the target's leg became a call: %d %s", r.Status, r.Body)
		}

		// Busy: a new session resumes the call, saying what happened.
		back := in.Webhook("/twilio/transfer?turn=1", call.DialAction("busy", leg.CallSID, 0))
		wantStatus(t, "dial action", back, 200)
		var doc relayResume
		if err := xml.Unmarshal([]byte(back.Body), &doc); err != nil {
			t.Fatalf("after busy %q: %v", back.Body, err)
		}
		if doc.Start != nil || doc.Connect.Action != servicetest.PublicBaseURL+"/twilio/relay/action" ||
			doc.Connect.Relay.URL != socketURL(call.CallSID) || doc.Connect.Relay.WelcomeGreeting != "I'm sorry, I couldn't reach Sales. Is there anything else I can help you with?" {
			t.Fatalf("after busy, want a new ConversationRelay session on the same call and no second recording:\n%s", back.Body)
		}

		// The caller talks over the new session's welcome (which is not a
		// stored turn), then asks again, in the same words: a new request
		// (turn 2), not a replay of turn 1, so the transfer is dialled
		// again.
		c = reconnect(t, in, call)
		if err := c.Interrupt("I'm sorry, I", 400); err != nil {
			t.Fatal(err)
		}
		_, h = transferOverRelay(t, c, words)
		if h["reason"] != "transfer" || h["turn"] != float64(2) {
			t.Fatalf("the repeated request did not transfer again: %v", h)
		}
		_ = c.Close()
		b, _ = json.Marshal(h)
		dial = in.Webhook("/twilio/relay/action", call.Form("SessionStatus", "ended", "HandoffData", string(b)))
		if !strings.Contains(dial.Body, "/twilio/transfer?turn=2") {
			t.Fatalf("second transfer TwiML:\n%s", dial.Body)
		}
		back = in.Webhook("/twilio/transfer?turn=2", call.DialAction("no-answer", "", 0))
		if !strings.Contains(back.Body, "<ConversationRelay") {
			t.Fatalf("after no-answer:\n%s", back.Body)
		}

		// The conversation carries on where it was.
		c = reconnect(t, in, call)
		if text, _ := ask(t, c, "When are you open?"); !strings.Contains(text, "Monday to Friday") {
			t.Fatalf("after the transfers, the assistant said %q", text)
		}
		got := waitTurns(t, in, call.CallSID, 7)
		var numbers []string
		for _, tu := range got.Turns {
			numbers = append(numbers, fmt.Sprintf("%d%s", tu.Number, tu.Role[:1]))
		}
		if strings.Join(numbers, " ") != "0a 1c 1a 2c 2a 3c 3a" {
			t.Fatalf("turns %v", numbers)
		}
		if tu, _ := findTurn(got.Turns, 1, storage.RoleAssistant); tu.Text != "Please hold while I transfer you to Sales." || tu.Interrupted {
			t.Fatalf("the welcome's interruption changed turn 1: %+v", tu)
		}
		if len(got.Transfers) != 2 {
			t.Fatalf("transfers: %+v", got.Transfers)
		}
		first, second := got.Transfers[0], got.Transfers[1]
		if first.Turn != 1 || first.Status != "busy" || first.ChildCallSID != leg.CallSID || first.AnsweredAt == nil || first.EndedAt == nil ||
			first.Mode != storage.TransferWarm || !strings.Contains(first.Summary, words) {
			t.Fatalf("first transfer: %+v", first)
		}
		if second.Turn != 2 || second.Status != "no-answer" || second.AnsweredAt != nil || second.EndedAt == nil {
			t.Fatalf("second transfer: %+v", second)
		}
		api := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID)
		if !strings.Contains(api.Body, `"status":"busy"`) || !strings.Contains(api.Body, `"status":"no-answer"`) {
			t.Fatalf("API: %s", api.Body)
		}
	})
}

// TestBusinessToolRelayBedrock: the same with a Bedrock model: the
// assistant's tool offered in toolConfig, the model's toolUse run (the
// filler said meanwhile), its toolResult sent back for the answer.
func TestBusinessToolRelayBedrock(t *testing.T) {
	ts := newToolServer(t)
	ts.answer = func(w http.ResponseWriter, req map[string]any) {
		time.Sleep(assistant.FillerDelay + 1500*time.Millisecond)
		fmt.Fprint(w, `{"status": "shipped"}`)
	}
	fake := bedrocktest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			s := bedrocktest.StartStream(w)
			_ = s.ToolUseAt(0, "tooluse_1", "order_status", `{"order":`, ` "A-1"}`)
			_ = s.Finish("tool_use")
			return
		}
		bedrocktest.Tokens(0, 0, nil, "Your order ", "has shipped.")(n, w, r)
	})
	ai, err := bedrock.NewWithClient(fake.Client(), bedrock.Config{ModelID: "m", Temperature: 0.3, MaxTokens: 150},
		assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler),
			Tools: assistant.HTTPTools{Client: outbound.New(outbound.Config{AllowPrivate: true})}})
	if err != nil {
		t.Fatal(err)
	}
	in := servicetest.Start(t, servicetest.Options{Assistant: ai})
	call, a := routedCall(t, in, relayActingJSON(ts.URL+"/tools/order", "3s"))
	ts.mu.Lock()
	ts.secret = a.Tools[0].Secret
	ts.mu.Unlock()
	c := reconnect(t, in, call)
	if text, _ := ask(t, c, "Where is my order A-1?"); text != assistant.Filler+" Your order has shipped." {
		t.Fatalf("the caller heard %q", text)
	}
	var offered []string
	for _, tool := range fake.Request(0).Body.ToolConfig.Tools {
		offered = append(offered, tool.ToolSpec.Name)
	}
	second := fake.Request(1).Body.Messages
	last := second[len(second)-1].Content[0].ToolResult
	if strings.Join(offered, " ") != "end_call order_status transfer_call" || last == nil || last.ToolUseID != "tooluse_1" || last.Content[0].JSON["status"] != "shipped" {
		t.Fatalf("tools offered %v; the answer's request ended with %+v", offered, second[len(second)-1])
	}
	got := waitTurns(t, in, call.CallSID, 3)
	if tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant); !ok || len(tu.ToolCalls) != 1 || tu.ToolCalls[0].ID != "tooluse_1" {
		t.Fatalf("stored turn: %+v", tu)
	}
}

// TestBusinessToolRelay: in a streamed call, a business tool that is slow
// has the caller hear a short filler while it runs, then the model's
// answer with its result; the call is stored on the turn and shown by the
// API; and on the next turn the model is sent the earlier call and its
// result, so it knows what it already looked up.
func TestBusinessToolRelay(t *testing.T) {
	ts := newToolServer(t)
	ts.answer = func(w http.ResponseWriter, req map[string]any) {
		time.Sleep(assistant.FillerDelay + 1500*time.Millisecond)
		fmt.Fprint(w, `{"order": "A-1", "status": "shipped"}`)
	}
	fake := openaitest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 0:
			s := openaitest.StartStream(w)
			_ = s.ToolCall("order_status", `{"order":`, `"A-1"}`)
			_ = s.Finish("tool_calls")
		case 1:
			openaitest.Tokens(0, 0, nil, "Your order A-1 ", "has shipped.")(n, w, r)
		default:
			openaitest.Tokens(0, 0, nil, "It cost ", "twenty dollars.")(n, w, r)
		}
	})
	mc := assistant.DefaultModelConfig()
	ai, err := openai.New(openai.Config{BaseURL: fake.BaseURL(), APIKey: "k", Model: "test-model", MaxTokens: 150},
		assistant.Deps{Config: mc, Logger: slog.New(slog.DiscardHandler),
			Tools: assistant.HTTPTools{Client: outbound.New(outbound.Config{AllowPrivate: true})}})
	if err != nil {
		t.Fatal(err)
	}
	in := servicetest.Start(t, servicetest.Options{Assistant: ai})
	call, a := routedCall(t, in, relayActingJSON(ts.URL+"/tools/order", "3s"))
	ts.mu.Lock()
	ts.secret = a.Tools[0].Secret
	ts.mu.Unlock()

	c := reconnect(t, in, call)
	text, frames := ask(t, c, "Where is my order A-1?")
	if text != assistant.Filler+" Your order A-1 has shipped." || frames[0].Token != assistant.Filler+" " {
		t.Fatalf("the caller heard %q in frames %+v; want the filler, then the answer", text, frames)
	}
	if sent, verified := ts.count(); sent != 1 || verified != 1 {
		t.Fatalf("tool requests %d, with a valid signature %d", sent, verified)
	}
	got := waitTurns(t, in, call.CallSID, 3)
	tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant)
	if !ok || tu.Text != text || len(tu.ToolCalls) != 1 || tu.ToolCalls[0].Name != "order_status" ||
		strings.ReplaceAll(string(tu.ToolCalls[0].Result), " ", "") != `{"order":"A-1","status":"shipped"}` || tu.ToolCalls[0].DurationMS <= 0 {
		t.Fatalf("stored turn: %+v", tu)
	}
	api := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID)
	if !strings.Contains(api.Body, `"tool_calls":[{"id":"call_1","name":"order_status","arguments":{"order":"A-1"},"result":{"order":"A-1","status":"shipped"}`) {
		t.Fatalf("API: %s", api.Body)
	}

	if text, _ := ask(t, c, "And what did it cost?"); text != "It cost twenty dollars." {
		t.Fatalf("second turn: %q", text)
	}
	var roles []string
	var toolResult string
	for _, m := range fake.Request(2).Body.Messages {
		roles = append(roles, m.Role)
		if m.Role == "tool" {
			toolResult = m.Content
		}
	}
	if strings.Join(roles, " ") != "system assistant user assistant tool assistant user" || strings.ReplaceAll(toolResult, " ", "") != `{"order":"A-1","status":"shipped"}` {
		t.Fatalf("the next turn's history: roles %v, tool result %q", roles, toolResult)
	}
	if sent, _ := ts.count(); sent != 1 {
		t.Fatalf("the tool was called again (%d requests)", sent)
	}
}

// findTurn finds turn (n, role).
func findTurn(turns []storage.Turn, n int, role storage.Role) (storage.Turn, bool) {
	for _, t := range turns {
		if t.Number == n && t.Role == role {
			return t, true
		}
	}
	return storage.Turn{}, false
}

// TestBusinessToolRelayScripted: the scripted assistant (make run) says
// the filler too while a slow tool runs in a streamed call, then the
// tool's answer word by word.
func TestBusinessToolRelayScripted(t *testing.T) {
	ts := newToolServer(t)
	ts.answer = func(w http.ResponseWriter, req map[string]any) {
		time.Sleep(assistant.FillerDelay + 1500*time.Millisecond)
		fmt.Fprint(w, `{"status": "shipped"}`)
	}
	in := servicetest.Start(t, servicetest.Options{})
	call, a := routedCall(t, in, relayActingJSON(ts.URL+"/tools/order", "3s"))
	ts.mu.Lock()
	ts.secret = a.Tools[0].Secret
	ts.mu.Unlock()
	c := reconnect(t, in, call)
	text, frames := ask(t, c, `use order_status {"order": "A-1"}`)
	if frames[0].Token != assistant.Filler+" " || !strings.HasPrefix(text, assistant.Filler+" order status says") {
		t.Fatalf("the caller heard %q in frames %+v; want the filler, then the answer", text, frames)
	}
	got := waitTurns(t, in, call.CallSID, 3)
	if tu, ok := findTurn(got.Turns, 1, storage.RoleAssistant); !ok || tu.Text != text || len(tu.ToolCalls) != 1 || tu.ToolCalls[0].Error != "" {
		t.Fatalf("stored turn: %+v", tu)
	}
}

// TestTransferReplayedRelay: a socket that drops after the transfer's turn
// is stored but before Twilio heard the session's end reconnects and
// replays the prompt (applicationReconnect): the stored words are said
// again and the session ends again with the same transfer, which is
// dialled once.
func TestTransferReplayedRelay(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call, _ := routedCall(t, in, relayActingJSON("http://127.0.0.1:1/unused", "1s"))
	c := reconnect(t, in, call)
	const words = "Please transfer me to sales"
	_, first := transferOverRelay(t, c, words)
	_ = c.Abort()

	c = reconnect(t, in, call)
	said, again := transferOverRelay(t, c, words)
	if said != "Please hold while I transfer you to Sales." || again["reason"] != "transfer" || again["turn"] != first["turn"] {
		t.Fatalf("replayed: said %q, handoff %v (first %v)", said, again, first)
	}
	got := in.GetCall(call.CallSID)
	if len(got.Transfers) != 1 || len(got.Turns) != 3 {
		t.Fatalf("after the replay: %d transfers, %d turns", len(got.Transfers), len(got.Turns))
	}
}
