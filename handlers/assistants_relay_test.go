package handlers_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// TestAssistantCallMode: an assistant's call_mode decides how its calls
// run, whatever the deployment's CALL_MODE (the default assistant's): on
// a gather deployment a relay assistant's calls are streamed, with its
// greeting, language and voice and its prompt; under Lambda, which holds
// no socket, they run with <Gather>.
func TestAssistantCallMode(t *testing.T) {
	fake := startStreamFake(t, func(int) streamPlan { return streamPlan{tokens: []string{"Garage ", "answer."}} })
	in := servicetest.Start(t, servicetest.Options{Assistant: openaiStreamer(t, fake.BaseURL(), nil)})
	a := createAssistant(t, in, `{"name": "Garage", "prompt": "You answer for Joe's Garage.", "greeting": "Joe's Garage!",
		"language": "en-GB", "voice": "Polly.Amy-Neural", "call_mode": "relay"}`)
	wantStatus(t, "POST /numbers", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+14155550301", "assistant_id": "`+a.ID+`"}`), http.StatusCreated)

	call := twiliotest.NewCall(servicetest.AccountSID)
	call.To = "+14155550301"
	r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	var doc relayTwiML
	if err := xml.Unmarshal([]byte(r.Body), &doc); err != nil {
		t.Fatal(err)
	}
	got := doc.Connect.Relay
	if got.WelcomeGreeting != "Joe's Garage!" || got.Language != "en-GB" || got.TTSProvider != "Amazon" || got.Voice != "Amy-Neural" {
		t.Fatalf("relay TwiML for a relay assistant on a gather deployment: %s", r.Body)
	}
	c := reconnect(t, in, call)
	if text, _ := ask(t, c, "Is my car ready?"); text != "Garage answer." {
		t.Errorf("streamed reply = %q", text)
	}
	if system := fake.Request(0).Body.Messages[0].Content; !strings.HasPrefix(system, "You answer for Joe's Garage.") {
		t.Errorf("the streamed turn's system prompt = %q, want the assistant's", system)
	}
	// The default assistant's calls keep the deployment's mode.
	other := twiliotest.NewCall(servicetest.AccountSID)
	if r := in.Webhook("/twilio/voice", other.Form("CallStatus", "ringing")); !strings.Contains(r.Body, "<Gather") {
		t.Errorf("a default call on a gather deployment: %s", r.Body)
	}
	// The farewell after the session is said in the assistant's voice.
	r = in.Webhook("/twilio/relay/action", call.Form("SessionStatus", "ended",
		"HandoffData", `{"reason": "end_call", "turn": 1, "farewell": "Bye now.", "language": "en-GB", "voice": "Polly.Amy-Neural"}`))
	if !strings.Contains(r.Body, `<Say voice="Polly.Amy-Neural" language="en-GB">Bye now.</Say>`) {
		t.Errorf("relay action farewell: %s", r.Body)
	}

	t.Run("UnderLambda", func(t *testing.T) {
		lambda := servicetest.Start(t, servicetest.Options{Calls: in.Calls, NoWorkers: true, Configure: func(c *service.Config) { c.Serverless = true }})
		call := twiliotest.NewCall(servicetest.AccountSID)
		call.To = "+14155550301"
		r := lambda.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
		if !strings.Contains(r.Body, "<Gather") || !strings.Contains(r.Body, `voice="Polly.Amy-Neural"`) || strings.Contains(r.Body, "ConversationRelay") {
			t.Errorf("a relay assistant's call under Lambda: %s", r.Body)
		}
	})
}
