package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// <Connect action><ConversationRelay …/></Connect>. Attribute names are
// those of twilio-node's TwiML schema (src/twiml/VoiceResponse.ts,
// ConnectAttributes and ConversationRelayAttributes) and of the
// <ConversationRelay> TwiML page.

type twimlConnect struct {
	Action string
	Method string
	Relay  twimlConversationRelay
}

type twimlConversationRelay struct {
	URL                          string
	WelcomeGreeting              string
	WelcomeGreetingInterruptible string
	Language                     string
	TTSProvider                  string
	Voice                        string
	TranscriptionProvider        string
	Interruptible                string
	// ApplicationReconnect is written only when set: Twilio's SDK builders
	// do not know the attribute yet.
	ApplicationReconnect bool
}

func (v twimlConnect) appendTo(b []byte) []byte {
	b = append(b, "<Connect"...)
	b = appendAttr(b, "action", v.Action)
	b = appendAttr(b, "method", v.Method)
	b = append(b, '>')
	b = v.Relay.appendTo(b)
	return append(b, "</Connect>"...)
}

// appendTo writes every attribute, empty or not, as the document always
// did.
func (v twimlConversationRelay) appendTo(b []byte) []byte {
	b = append(b, "<ConversationRelay"...)
	b = appendAttr(b, "url", v.URL)
	b = appendAttr(b, "welcomeGreeting", v.WelcomeGreeting)
	b = appendAttr(b, "welcomeGreetingInterruptible", v.WelcomeGreetingInterruptible)
	b = appendAttr(b, "language", v.Language)
	b = appendAttr(b, "ttsProvider", v.TTSProvider)
	b = appendAttr(b, "voice", v.Voice)
	b = appendAttr(b, "transcriptionProvider", v.TranscriptionProvider)
	b = appendAttr(b, "interruptible", v.Interruptible)
	if v.ApplicationReconnect {
		b = appendAttr(b, "applicationReconnect", "true")
	}
	return append(b, "></ConversationRelay>"...)
}

// relayTwiML starts the recording, then hands the call to
// ConversationRelay with the stored greeting as its welcome, in the call's
// assistant's language and voice.
func (s *Server) relayTwiML(sp speech, recording twimlStart, callSID, greeting string) []byte {
	return renderTwiML(recording, s.relayConnect(sp, callSID, greeting))
}

// relayConnect is the <Connect><ConversationRelay> of a call.
func (s *Server) relayConnect(sp speech, callSID, greeting string) twimlConnect {
	provider, voice := s.relayVoice(sp.voice)
	return twimlConnect{
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
			ApplicationReconnect:         s.relay.cfg.ApplicationReconnect,
		},
	}
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
