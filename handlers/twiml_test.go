package handlers

import (
	"encoding/xml"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The reference: the same documents described for encoding/xml, which
// rendered TwiML before the hand-written writer did.
type (
	refResponse struct {
		XMLName xml.Name `xml:"Response"`
		Verbs   []any
	}
	refStart struct {
		XMLName   xml.Name `xml:"Start"`
		Recording refRecording
	}
	refRecording struct {
		XMLName  xml.Name `xml:"Recording"`
		Callback string   `xml:"recordingStatusCallback,attr"`
		Method   string   `xml:"recordingStatusCallbackMethod,attr"`
		Events   string   `xml:"recordingStatusCallbackEvent,attr"`
		Channels string   `xml:"channels,attr"`
	}
	refGather struct {
		XMLName       xml.Name `xml:"Gather"`
		Input         string   `xml:"input,attr"`
		Action        string   `xml:"action,attr"`
		Method        string   `xml:"method,attr"`
		SpeechTimeout string   `xml:"speechTimeout,attr"`
		Language      string   `xml:"language,attr"`
		Say           refSay
	}
	refSay struct {
		XMLName  xml.Name `xml:"Say"`
		Voice    string   `xml:"voice,attr,omitempty"`
		Language string   `xml:"language,attr,omitempty"`
		Text     string   `xml:",chardata"`
	}
	refRedirect struct {
		XMLName xml.Name `xml:"Redirect"`
		Method  string   `xml:"method,attr"`
		URL     string   `xml:",chardata"`
	}
	refHangup struct {
		XMLName xml.Name `xml:"Hangup"`
	}
	refConnect struct {
		XMLName xml.Name `xml:"Connect"`
		Action  string   `xml:"action,attr"`
		Method  string   `xml:"method,attr"`
		Relay   refConversationRelay
	}
	refConversationRelay struct {
		XMLName                      xml.Name `xml:"ConversationRelay"`
		URL                          string   `xml:"url,attr"`
		WelcomeGreeting              string   `xml:"welcomeGreeting,attr"`
		WelcomeGreetingInterruptible string   `xml:"welcomeGreetingInterruptible,attr"`
		Language                     string   `xml:"language,attr"`
		TTSProvider                  string   `xml:"ttsProvider,attr"`
		Voice                        string   `xml:"voice,attr"`
		TranscriptionProvider        string   `xml:"transcriptionProvider,attr"`
		Interruptible                string   `xml:"interruptible,attr"`
	}
)

func refRender(t *testing.T, verbs ...any) string {
	t.Helper()
	out, err := xml.Marshal(refResponse{Verbs: verbs})
	if err != nil {
		t.Fatal(err)
	}
	return xmlHeader + string(out)
}

// TestTwiMLMatchesEncodingXML renders every verb with text that needs
// escaping (markup, quotes, whitespace, control characters, invalid UTF-8,
// characters outside XML) and compares the bytes with encoding/xml's.
func TestTwiMLMatchesEncodingXML(t *testing.T) {
	texts := []string{
		"",
		"We are open Monday to Friday, nine to six.",
		`Tom & Jerry's "best" <deal> > all`,
		"line one\nline two\r\n\ttabbed",
		"nul\x00 bell\x07 esc\x1b del\x7f",
		"bad utf-8 \xff\xfe and a cut rune \xe2\x82",
		"replacement \uFFFD itself, non-characters \uFFFE\uFFFF",
		"Grüße, 你好, emoji 📞, combining é",
		"https://switchboard.example.com/twilio/gather?silence=1&turn=2",
	}
	for _, text := range texts {
		got := string(renderTwiML(
			twimlStart{Recording: twimlRecording{Callback: text, Method: "POST", Events: "completed absent", Channels: text}},
			twimlGather{Input: "speech", Action: text, Method: "POST", SpeechTimeout: "auto", Language: text,
				Say: twimlSay{Voice: text, Language: "en-US", Text: text}},
			twimlSay{Text: text},
			twimlRedirect{Method: "POST", URL: text},
			twimlHangup{},
			twimlConnect{Action: text, Method: "POST", Relay: twimlConversationRelay{URL: text, WelcomeGreeting: text,
				WelcomeGreetingInterruptible: "any", Language: text, TTSProvider: "", Voice: text, TranscriptionProvider: text, Interruptible: "any"}},
		))
		want := refRender(t,
			refStart{Recording: refRecording{Callback: text, Method: "POST", Events: "completed absent", Channels: text}},
			refGather{Input: "speech", Action: text, Method: "POST", SpeechTimeout: "auto", Language: text,
				Say: refSay{Voice: text, Language: "en-US", Text: text}},
			refSay{Text: text},
			refRedirect{Method: "POST", URL: text},
			refHangup{},
			refConnect{Action: text, Method: "POST", Relay: refConversationRelay{URL: text, WelcomeGreeting: text,
				WelcomeGreetingInterruptible: "any", Language: text, TTSProvider: "", Voice: text, TranscriptionProvider: text, Interruptible: "any"}},
		)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("text %q (-want +got):\n%s", text, d)
		}
	}
	if got, want := string(renderTwiML()), refRender(t); got != want {
		t.Errorf("empty response: got %q, want %q", got, want)
	}
}

// TestDialMatchesEncodingXML: the transfer verbs keep their encoding/xml
// tags, so each is its own reference.
func TestDialMatchesEncodingXML(t *testing.T) {
	for name, v := range map[string]twimlDial{
		"WarmNumber": {Action: "https://x.example.com/twilio/transfer?turn=2&a=<b>", Method: "POST", Timeout: 25, AnswerOnBridge: true,
			Target: twimlNumber{URL: "https://x.example.com/twilio/whisper?call=CA1&turn=2", Method: "POST", Number: "+14155550100"}},
		"ColdSip": {Action: "https://x.example.com/twilio/transfer?turn=3", Method: "POST", Timeout: 25,
			Target: twimlSip{URI: "sip:desk@example.com;transport=tls"}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := xml.Marshal(refResponse{Verbs: []any{v}})
			if err != nil {
				t.Fatal(err)
			}
			got := renderTwiML(v)
			if d := cmp.Diff(xmlHeader+string(want), string(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
