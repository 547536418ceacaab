package handlers_test

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/assistant/openai"
	"switchboard/handlers"
	"switchboard/handlers/relaytest"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// relayTwiML is the incoming-call answer in relay mode.
type relayTwiML struct {
	XMLName xml.Name `xml:"Response"`
	Start   struct {
		Recording struct {
			Callback string `xml:"recordingStatusCallback,attr"`
		} `xml:"Recording"`
	} `xml:"Start"`
	Connect struct {
		Action string `xml:"action,attr"`
		Method string `xml:"method,attr"`
		Relay  struct {
			URL                   string `xml:"url,attr"`
			WelcomeGreeting       string `xml:"welcomeGreeting,attr"`
			Language              string `xml:"language,attr"`
			TTSProvider           string `xml:"ttsProvider,attr"`
			Voice                 string `xml:"voice,attr"`
			TranscriptionProvider string `xml:"transcriptionProvider,attr"`
			Interruptible         string `xml:"interruptible,attr"`
			ApplicationReconnect  string `xml:"applicationReconnect,attr"`
		} `xml:"ConversationRelay"`
	} `xml:"Connect"`
}

// startRelay runs an instance in relay mode.
func startRelay(t testing.TB, ai assistant.Assistant, calls storage.Store, tune func(*service.Config)) *servicetest.Instance {
	t.Helper()
	return servicetest.Start(t, servicetest.Options{Assistant: ai, Calls: calls, Configure: func(c *service.Config) {
		c.CallMode = handlers.ModeRelay
		if tune != nil {
			tune(c)
		}
	}})
}

// incomingRelayCall posts the incoming-call webhook and returns the call
// and the TwiML that hands it to ConversationRelay.
func incomingRelayCall(t testing.TB, in *servicetest.Instance) (twiliotest.Call, relayTwiML) {
	t.Helper()
	call := twiliotest.NewCall(servicetest.AccountSID)
	r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	if r.Status != http.StatusOK {
		t.Fatalf("incoming call: %d %s", r.Status, r.Body)
	}
	var doc relayTwiML
	if err := xml.Unmarshal([]byte(r.Body), &doc); err != nil {
		t.Fatalf("incoming-call TwiML %q: %v", r.Body, err)
	}
	return call, doc
}

// socketURL is the URL Twilio connects to, and signs, for a call.
func socketURL(callSID string) string {
	return "wss://switchboard.example.com/twilio/relay/" + callSID
}

// dialRelay connects to the instance as Twilio connects to the socket URL,
// with signature sig ("" for none).
func dialRelay(t testing.TB, in *servicetest.Instance, callSID, sig string) (*relaytest.Client, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if sig != "" {
		h.Set("X-Twilio-Signature", sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := relaytest.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/twilio/relay/"+callSID, h)
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

// openRelay answers a call and opens its socket with the setup message.
func openRelay(t testing.TB, in *servicetest.Instance) (twiliotest.Call, *relaytest.Client) {
	t.Helper()
	call, _ := incomingRelayCall(t, in)
	return call, reconnect(t, in, call)
}

// reconnect opens another socket for a call, as Twilio does after a drop.
func reconnect(t testing.TB, in *servicetest.Instance, call twiliotest.Call) *relaytest.Client {
	t.Helper()
	c, resp, err := dialRelay(t, in, call.CallSID, relaytest.Sign(servicetest.AuthToken, socketURL(call.CallSID)))
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("relay handshake: %v (HTTP %d)", err, status)
	}
	if err := c.Setup(call.CallSID, call.AccountSID, call.From, call.To); err != nil {
		t.Fatalf("setup: %v", err)
	}
	return c
}

// ask sends a prompt and reads the whole reply.
func ask(t testing.TB, c *relaytest.Client, words string) (string, []relaytest.Frame) {
	t.Helper()
	if err := c.Prompt(words); err != nil {
		t.Fatalf("prompt %q: %v", words, err)
	}
	text, frames, err := c.Reply(20 * time.Second)
	if err != nil {
		t.Fatalf("reply to %q: %v (so far %q)", words, err, text)
	}
	return text, frames
}

// openaiStreamer is the OpenAI assistant on a fake's base URL.
func openaiStreamer(t testing.TB, baseURL string, tune func(*assistant.ModelConfig)) *openai.Assistant {
	t.Helper()
	mc := assistant.DefaultModelConfig()
	mc.Prompt = businessPrompt
	if tune != nil {
		tune(&mc)
	}
	a, err := openai.New(openai.Config{BaseURL: baseURL, APIKey: "k", Model: "test-model", Temperature: 0.3, MaxTokens: 150, StructuredOutput: true},
		assistant.Deps{Config: mc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("openai.New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// waitTurns polls the API until the call has n turns.
func waitTurns(t testing.TB, in *servicetest.Instance, sid string, n int) storage.Call {
	t.Helper()
	var call storage.Call
	servicetest.Eventually(t, 10*time.Second, "the call's turns to be stored", func() bool {
		call = in.GetCall(sid)
		return len(call.Turns) >= n
	})
	return call
}

// waitFor is a generous deadline for something that should happen soon.
func waitFor(t testing.TB) <-chan time.Time {
	t.Helper()
	return time.After(10 * time.Second)
}

func relaytestSign(u string) string { return relaytest.Sign(servicetest.AuthToken, u) }
