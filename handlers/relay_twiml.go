package handlers

import (
	"encoding/xml"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// <Connect action><ConversationRelay …/></Connect>. Attribute names are
// those of twilio-node's TwiML schema (src/twiml/VoiceResponse.ts,
// ConnectAttributes and ConversationRelayAttributes) and of the
// <ConversationRelay> TwiML page.

type twimlConnect struct {
	XMLName xml.Name `xml:"Connect"`
	Action  string   `xml:"action,attr"`
	Method  string   `xml:"method,attr"`
	Relay   twimlConversationRelay
}

type twimlConversationRelay struct {
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

// relayTwiML starts the recording, then hands the call to
// ConversationRelay with the stored greeting as its welcome, in the call's
// assistant's language and voice.
func (s *Server) relayTwiML(sp speech, recording twimlStart, callSID, greeting string) []byte {
	provider, voice := s.relayVoice(sp.voice)
	return renderTwiML(recording, twimlConnect{
		Action: s.cfg.PublicBaseURL + "/twilio/relay/action",
		Method: "POST",
		Relay: twimlConversationRelay{
			URL:                          s.relayURL(callSID),
			WelcomeGreeting:              greeting,
			WelcomeGreetingInterruptible: "any",
			Language:                     sp.language,
			TTSProvider:                  provider,
			Voice:                        voice,
			TranscriptionProvider:        s.relay.cfg.TranscriptionProvider,
			Interruptible:                "any",
		},
	})
}

// relayVoice maps a <Say> voice to ConversationRelay's provider and voice:
// "Polly.Joanna-Neural" is Amazon's "Joanna-Neural", "Google.en-US-Neural2-A"
// Google's "en-US-Neural2-A". Any other voice, and the deployment's own
// (CALL_VOICE), leave RELAY_TTS_PROVIDER and RELAY_VOICE in charge.
func (s *Server) relayVoice(sayVoice string) (provider, voice string) {
	if sayVoice != s.cfg.Voice {
		if v, ok := strings.CutPrefix(sayVoice, "Polly."); ok {
			return "Amazon", v
		}
		if v, ok := strings.CutPrefix(sayVoice, "Google."); ok {
			return "Google", v
		}
	}
	return s.relay.cfg.TTSProvider, s.relay.cfg.Voice
}

// relayFor reports whether call runs streamed: its assistant's call mode
// is relay and this instance serves sockets.
func (s *Server) relayFor(c *fiber.Ctx, a storage.Assistant) bool {
	if a.CallMode != storage.CallModeRelay {
		return false
	}
	if !s.cfg.Streaming {
		s.logger(c).Warn("the call's assistant streams calls, which this instance cannot serve: running it with <Gather>",
			"assistant", a.ID, "version", a.Version)
		return false
	}
	return true
}
